//! Private logistic regression on the breast-cancer data, one process per party: party 0 owns
//! the features, party 1 the labels, party 2 (when there are three) the model.
//!
//! ```sh
//! cargo build --release --examples
//! target/release/umbra launch --parties 3 --dealer -- target/release/examples/logreg
//! ```
//!
//! Optional argument: the number of epochs (default 10).

fn main() -> anyhow::Result<()> {
    let session = umbra::init()?;
    let mut cfg = apps::demo::logreg::Config::default();
    if let Some(epochs) = std::env::args().nth(1) {
        cfg.epochs = epochs.parse()?;
    }
    let report = apps::demo::logreg::run(&session, &cfg)?;
    if session.party() == 0 {
        print!("{}", report.render());
    }
    Ok(())
}
