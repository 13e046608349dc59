//! Private ReLU and comparison between real party processes.
//!
//! Party 0 owns x; party 1 learns relu(x) alone (`reveal_to`), and everyone learns how many
//! entries are positive.
//!
//! ```sh
//! cargo build --release --examples
//! cargo run --release -- launch --parties 3 --dealer -- target/release/examples/private_relu
//! ```

use umbra::tensor::UnaryOp;

fn main() -> anyhow::Result<()> {
    let session = umbra::init()?;
    let me = session.party();
    let values = [-2.5, -0.5, 0.0, 0.75, 3.0, -1.25];
    let x = if me == 0 {
        session.share_f64(&[6], &values, 0)?
    } else {
        session.share_from(&[6], session.config().frac_bits, 0)?
    };
    // ReLU and the step [x ≥ 0] from one sign circuit
    let [relu, positive]: [_; 2] = x
        .unary_fused(&[UnaryOp::Relu, UnaryOp::Step])?
        .try_into()
        .expect("two results");
    if let Some(r) = relu.reveal_to(1)? {
        println!("party {me}: relu(x) = {:?}", r.to_f64());
    }
    let count = positive.sum(&[0], false)?.reveal_f64()?;
    println!("party {me}: {} of 6 entries are positive", count[0]);
    Ok(())
}
