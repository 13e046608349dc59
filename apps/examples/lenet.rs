//! Private LeNet inference, one process per party: party 0 owns the model, party 1 the
//! images and learns the logits; any further party only computes.
//!
//! ```sh
//! cargo build --release --examples
//! target/release/umbra launch --parties 2 --dealer -- target/release/examples/lenet
//! ```
//!
//! Optional argument: the batch size (default 64).

fn main() -> anyhow::Result<()> {
    let session = umbra::init()?;
    let mut cfg = apps::demo::lenet::Config::default();
    if let Some(batch) = std::env::args().nth(1) {
        cfg.batch = batch.parse()?;
    }
    if let Some(report) = apps::demo::lenet::run(&session, &cfg)? {
        print!("{}", report.render());
    }
    Ok(())
}
