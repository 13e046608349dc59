//! What CrypTen and SPU would need on an emulated link, from their rounds measured side by side
//! on the development machine (2 parties; issue 13's table), and CrypTen's per-element bytes
//! for the elementwise functions from its communicator log (`shared/reference/crypten.md`
//! §3.10, 2PC with its trusted first party at N = 1000: the log counts each all-reduce's bytes
//! twice, sent and received, so a party sends half the logged figure). Their bytes are not
//! known for the whole-network workloads, so the figure is a floor: rounds times the one-way
//! delay, plus the bytes where they were measured. A peer can only be slower than its floor,
//! so a speed-up against it is a lower bound.

use mpc::LinkProfile;

/// A peer's measured cost of one workload.
struct PeerCost {
    /// CrypTen's rounds (collectives), 2 parties with its trusted third party.
    crypten_rounds: u64,
    /// CrypTen's bytes sent per party per output element, where measured.
    crypten_bytes_per_element: Option<f64>,
    /// SPU's messages per party (semi2k, 2 parties).
    spu_rounds: Option<u64>,
}

fn cost(name: &str) -> Option<PeerCost> {
    let c = |crypten_rounds, bytes, spu| PeerCost {
        crypten_rounds,
        crypten_bytes_per_element: bytes,
        spu_rounds: spu,
    };
    Some(match name {
        // logged 752,000 and 1,104,000 B for 1000 elements
        "sigmoid_100000" => c(23, Some(376.0), Some(53)),
        "reciprocal_100000" => c(38, Some(552.0), Some(36)),
        "softmax_1000x100" => c(116, None, Some(127)),
        "lenet_inference_b64" => c(123, None, Some(64)),
        "mlp_784_128_10_sgd_step_b64" => c(148, None, Some(121)),
        // logged 464,000 B for 1000 elements
        n if n.starts_with("relu_") => c(9, Some(232.0), None),
        _ => return None,
    })
}

/// The floors, in seconds, of CrypTen and SPU for workload `name` with `elements` outputs on
/// `link`: `(crypten, spu)`, each `None` where no measurement exists.
pub fn floors(
    name: &str,
    elements: usize,
    link: Option<LinkProfile>,
) -> (Option<f64>, Option<f64>) {
    let (Some(link), Some(p)) = (link, cost(name)) else {
        return (None, None);
    };
    let one_way = link.rtt.as_secs_f64() / 2.0;
    let wire = |bytes: f64| bytes * 8.0 / link.bits_per_s;
    let crypten = p.crypten_rounds as f64 * one_way
        + p.crypten_bytes_per_element
            .map_or(0.0, |b| wire(b * elements as f64));
    let spu = p.spu_rounds.map(|r| r as f64 * one_way);
    (Some(crypten), spu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_are_rounds_times_one_way_delay_plus_known_bytes() {
        let wan = Some(LinkProfile::WAN);
        let (c, s) = floors("lenet_inference_b64", 1, wan);
        assert!((c.unwrap() - 123.0 * 0.020).abs() < 1e-9);
        assert!((s.unwrap() - 64.0 * 0.020).abs() < 1e-9);
        // ReLU 10^6: 9 rounds and 232 MB at 100 Mbit/s.
        let (c, s) = floors("relu_1000000", 1_000_000, wan);
        assert!((c.unwrap() - (9.0 * 0.020 + 232e6 * 8.0 / 1e8)).abs() < 1e-9);
        assert_eq!(s, None);
        // sigmoid 10^5: 23 rounds and 37.6 MB; SPU's 53 messages, bytes unknown.
        let (c, s) = floors("sigmoid_100000", 100_000, wan);
        assert!((c.unwrap() - (23.0 * 0.020 + 37.6e6 * 8.0 / 1e8)).abs() < 1e-9);
        assert!((s.unwrap() - 53.0 * 0.020).abs() < 1e-9);
        assert_eq!(floors("lenet_inference_b64", 1, None), (None, None));
        assert_eq!(floors("gemm", 1, wan), (None, None));
    }
}
