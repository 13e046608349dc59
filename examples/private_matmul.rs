//! Private matrix product between real party processes.
//!
//! Party 0 owns A, party 1 owns B; every party learns A·B and nothing else.
//!
//! ```sh
//! cargo build --release --examples
//! cargo run --release -- launch --parties 3 --dealer -- target/release/examples/private_matmul
//! ```

fn main() -> anyhow::Result<()> {
    let session = umbra::init()?;
    let me = session.party();
    // Only the owner's values matter; the other parties pass the shape alone.
    let a = if me == 0 {
        session.share_f64(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 0)?
    } else {
        session.share_from(&[2, 3], session.config().frac_bits, 0)?
    };
    let b = if me == 1 {
        session.share_f64(&[3, 2], &[0.5, -1.0, 0.25, 2.0, -0.75, 1.5], 1)?
    } else {
        session.share_from(&[3, 2], session.config().frac_bits, 1)?
    };
    let product = a.matmul(&b)?.reveal_f64()?;
    println!("party {me}: A·B = {product:?} (plaintext: [-1.25, 7.5, -1.25, 15.0])");
    Ok(())
}
