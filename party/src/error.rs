//! The party crate's error type: configuration, key material, connection set-up and the
//! launcher. Errors inside a running session are `mpc::Error`s.

/// What can go wrong before or around a session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The cluster file is missing, unreadable or inconsistent.
    #[error("cluster file {path}: {reason}")]
    Cluster {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What the file is for.
        what: &'static str,
        /// The file.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A key or certificate could not be made, read or used.
    #[error("key material: {0}")]
    Key(String),
    /// A setting (environment variable, command-line value) is missing or invalid.
    #[error("{0}")]
    Config(String),
    /// The links of a session could not be set up.
    #[error("{0}")]
    Setup(String),
    /// The dealer service failed.
    #[error("dealer: {0}")]
    Dealer(String),
    /// The launcher failed to start or supervise its processes.
    #[error("launcher: {0}")]
    Launch(String),
    /// A protocol error.
    #[error(transparent)]
    Mpc(#[from] mpc::Error),
}

/// Result alias for the party crate.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io_err(
    what: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.display().to_string();
    move |source| Error::Io { what, path, source }
}
