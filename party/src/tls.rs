//! TLS 1.3 with pinned certificates: each side of every connection accepts exactly the
//! certificate the cluster file lists for the member it talks to, and nothing else. There is
//! no certificate authority, no web PKI and no validity-date check (rotation is a new
//! cluster file); signatures are still verified, so only the holder of the pinned key passes.
//! ALPN carries the wire version; 0-RTT is never enabled (its data is replayable).
//!
//! An attested dealer is the one exception to pinning by fingerprint: a party dialling it
//! accepts the certificate whose TEE evidence passes the cluster file's policy
//! ([`crate::attest`]), and prints what it verified once per node.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::cluster::{Cluster, Pin, tls_name};
use crate::error::{Error, Result};
use crate::identity::{Identity, fingerprint};
use crate::wire::{ALPN, hex};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The pinned roster, shared by both verifiers.
#[derive(Debug)]
struct Pins {
    /// (TLS name, fingerprint) of every member pinned by certificate.
    members: Vec<(String, [u8; 32])>,
    /// (TLS name, policy) of an attested dealer.
    attested: Option<(String, Arc<crate::attest::Policy>)>,
    algs: WebPkiSupportedAlgorithms,
}

impl Pins {
    fn new(cluster: &Cluster) -> Self {
        let all = || cluster.parties.iter().chain(cluster.dealer.as_ref());
        let members = all()
            .filter_map(|m| Some((tls_name(m.id), m.fingerprint()?)))
            .collect();
        let attested = all().find_map(|m| match &m.pin {
            Pin::Attested(p) => Some((tls_name(m.id), p.clone())),
            Pin::Certificate(_) => None,
        });
        Self {
            members,
            attested,
            algs: provider().signature_verification_algorithms,
        }
    }

    fn refuse(reason: String) -> rustls::Error {
        rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
            PinError(reason),
        ))))
    }

    /// TLS 1.2 is never negotiated (both configs are TLS 1.3 only).
    fn no_tls12() -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    /// The handshake signature, checked with the provider's algorithms: only the holder of
    /// the pinned certificate's key passes.
    fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn check_chain(intermediates: &[CertificateDer<'_>]) -> std::result::Result<(), rustls::Error> {
        if intermediates.is_empty() {
            Ok(())
        } else {
            Err(Self::refuse(format!(
                "sent a chain of {} extra certificates; members present one self-signed certificate",
                intermediates.len()
            )))
        }
    }
}

/// A TLS error's text with the verifier's reason alone: rustls (and quinn, which formats the
/// rustls error) print a refused certificate as `Other(OtherError(PinError("reason")))`.
pub(crate) fn plain_tls_message(text: &str) -> String {
    const OPEN: &str = "Other(OtherError(PinError(\"";
    const CLOSE: &str = "\")))";
    let Some(start) = text.find(OPEN) else {
        return text.to_owned();
    };
    let body = &text[start + OPEN.len()..];
    let Some(end) = body.rfind(CLOSE) else {
        return text.to_owned();
    };
    let reason = body[..end].replace("\\\"", "\"").replace("\\\\", "\\");
    format!("{}{reason}{}", &text[..start], &body[end + CLOSE.len()..])
}

/// Why a certificate was refused, carried inside the rustls error.
#[derive(Debug)]
struct PinError(String);

impl std::fmt::Display for PinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PinError {}

/// Client side: the server must present the certificate pinned for the name we dialled,
/// or, for an attested dealer, a certificate whose evidence passes the policy.
#[derive(Debug)]
struct PinnedServer {
    pins: Pins,
    /// Who is verifying (for the one line printed per node).
    me: String,
    /// Whether that line has been printed.
    announced: AtomicBool,
}

impl PinnedServer {
    fn attested(
        &self,
        name: &str,
        policy: &crate::attest::Policy,
        cert: &CertificateDer<'_>,
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let appraisal = crate::attest::appraise_certificate(cert.as_ref(), policy, now.as_secs());
        match appraisal.into_result() {
            Ok(v) => {
                if !self.announced.swap(true, Ordering::Relaxed) {
                    eprintln!("umbra: {} verified the {name}: {v}", self.me);
                }
                Ok(ServerCertVerified::assertion())
            }
            Err(rejected) => Err(Pins::refuse(format!("the {name}'s {rejected}"))),
        }
    }
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Pins::check_chain(intermediates)?;
        let name = server_name.to_str();
        if let Some((n, policy)) = &self.pins.attested
            && *n == name
        {
            return self.attested(n, policy, end_entity, now);
        }
        let Some((_, want)) = self.pins.members.iter().find(|(n, _)| *n == name) else {
            return Err(Pins::refuse(format!("{name} is not in the cluster file")));
        };
        let got = fingerprint(end_entity.as_ref());
        if &got == want {
            return Ok(ServerCertVerified::assertion());
        }
        let whose = match self.pins.members.iter().find(|(_, f)| *f == got) {
            Some((other, _)) => format!("it is {other}'s certificate"),
            None => "it is not in the cluster file".to_owned(),
        };
        Err(Pins::refuse(format!(
            "{name} presented certificate {} but the cluster file pins {} ({whose})",
            &hex(&got)[..16],
            &hex(want)[..16]
        )))
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Pins::no_tls12()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.pins.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.pins.algs.supported_schemes()
    }
}

/// Server side: a client must present some member's pinned certificate; which member it is
/// decides what it may claim in its hello.
#[derive(Debug)]
struct PinnedClient(Pins);

impl ClientCertVerifier for PinnedClient {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        Pins::check_chain(intermediates)?;
        let got = fingerprint(end_entity.as_ref());
        if self.0.members.iter().any(|(_, f)| *f == got) {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(Pins::refuse(format!(
                "client certificate {} is not in the cluster file",
                &hex(&got)[..16]
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Pins::no_tls12()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.algs.supported_schemes()
    }
}

/// The rustls configurations of one member.
#[derive(Debug, Clone)]
pub(crate) struct TlsConfigs {
    /// For connections this member accepts.
    pub(crate) server: Arc<rustls::ServerConfig>,
    /// For connections this member dials.
    pub(crate) client: Arc<rustls::ClientConfig>,
}

/// Builds both configurations for `me` in `cluster`: TLS 1.3 only, pinned verifiers on both
/// sides, client certificates mandatory, ALPN `umbra/1`, no 0-RTT.
///
/// # Errors
/// The identity's key is unusable.
pub(crate) fn configs(cluster: &Cluster, me_id: u16, me: &Identity) -> Result<TlsConfigs> {
    let key_err = |e: rustls::Error| Error::Key(format!("this member's key: {e}"));
    let mut server = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(key_err)?
        .with_client_cert_verifier(Arc::new(PinnedClient(Pins::new(cluster))))
        .with_single_cert(vec![me.cert()], me.key())
        .map_err(key_err)?;
    server.alpn_protocols = vec![ALPN.to_vec()];
    server.max_early_data_size = 0;
    let mut client = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(key_err)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServer {
            pins: Pins::new(cluster),
            me: crate::wire::node_name(me_id),
            announced: AtomicBool::new(false),
        }))
        .with_client_auth_cert(vec![me.cert()], me.key())
        .map_err(key_err)?;
    client.alpn_protocols = vec![ALPN.to_vec()];
    client.enable_early_data = false;
    Ok(TlsConfigs {
        server: Arc::new(server),
        client: Arc::new(client),
    })
}

/// The median time of `reps` TLS 1.3 handshakes, in memory (no sockets), between party
/// `party` of `cluster` (the client, with its verifier: pinned or attested) and the dealer
/// presenting `dealer`'s certificate: the handshake cost of the dealer link, verification
/// included, without the network's.
///
/// # Errors
/// A key is unusable or a handshake fails (the dealer's certificate is refused).
pub fn dealer_handshake_time(
    cluster: &Cluster,
    party: (u16, &Identity),
    dealer: &Identity,
    reps: usize,
) -> Result<std::time::Duration> {
    let client_cfg = configs(cluster, party.0, party.1)?.client;
    let server_cfg = configs(cluster, crate::wire::DEALER, dealer)?.server;
    let name = ServerName::try_from(tls_name(crate::wire::DEALER))
        .map_err(|e| Error::Config(e.to_string()))?;
    let tls =
        |e: rustls::Error| Error::Setup(plain_tls_message(&format!("TLS with the dealer: {e}")));
    let mut times = Vec::with_capacity(reps.max(1));
    for _ in 0..reps.max(1) {
        let start = std::time::Instant::now();
        let mut c = rustls::ClientConnection::new(client_cfg.clone(), name.clone()).map_err(tls)?;
        let mut s = rustls::ServerConnection::new(server_cfg.clone()).map_err(tls)?;
        let mut buf = Vec::new();
        while c.is_handshaking() || s.is_handshaking() {
            buf.clear();
            while c.wants_write() {
                c.write_tls(&mut buf)
                    .map_err(|e| Error::Setup(e.to_string()))?;
            }
            let mut rd = &buf[..];
            while !rd.is_empty() {
                s.read_tls(&mut rd)
                    .map_err(|e| Error::Setup(e.to_string()))?;
            }
            s.process_new_packets().map_err(tls)?;
            buf.clear();
            while s.wants_write() {
                s.write_tls(&mut buf)
                    .map_err(|e| Error::Setup(e.to_string()))?;
            }
            let mut rd = &buf[..];
            while !rd.is_empty() {
                c.read_tls(&mut rd)
                    .map_err(|e| Error::Setup(e.to_string()))?;
            }
            c.process_new_packets().map_err(tls)?;
        }
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_certificate_reads_as_its_reason() {
        let reason = "certificate \"abc\" is not pinned for party 1";
        let e = rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
            Arc::new(PinError(reason.into())),
        )));
        let text = format!("TLS with party 1: {e}");
        assert!(text.contains("OtherError"), "rustls still wraps it: {text}");
        assert_eq!(
            plain_tls_message(&text),
            format!("TLS with party 1: invalid peer certificate: {reason}")
        );
        assert_eq!(plain_tls_message("no wrapper"), "no wrapper");
    }
}
