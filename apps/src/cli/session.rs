//! `umbra session`: a fresh random session id.

use anyhow::Result;

pub(crate) fn run() -> Result<()> {
    println!("{}", party::wire::hex(&party::env::fresh_session()?));
    Ok(())
}
