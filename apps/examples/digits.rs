//! Private training of an MLP (64-128-10) on the digits, one process per party: parties 0
//! and 1 each own half of the training rows, party 2 (when there are three) the model.
//!
//! ```sh
//! cargo build --release --examples
//! target/release/umbra launch --parties 2 --dealer -- target/release/examples/digits
//! ```
//!
//! Optional argument: the number of epochs (default 10).

fn main() -> anyhow::Result<()> {
    let session = umbra::init()?;
    let mut cfg = apps::demo::digits::Config::default();
    if let Some(epochs) = std::env::args().nth(1) {
        cfg.epochs = epochs.parse()?;
    }
    let report = apps::demo::digits::run(&session, &cfg)?;
    if session.party() == 0 {
        print!("{}", report.render());
    }
    Ok(())
}
