//! `umbra testprog` (hidden): the small party programs of the multi-process tests.

use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum Testprog {
    /// relu(X·W) with X from party 0 and W from party 1; prints `RESULT [..]`.
    MatmulRelu,
    /// Party VICTIM crashes (abort) after set-up; the others then attempt a private product.
    Crash {
        #[arg(long, default_value_t = 1)]
        victim: usize,
    },
    /// Party VICTIM stops responding for SECS seconds after set-up.
    Stall {
        #[arg(long, default_value_t = 1)]
        victim: usize,
        #[arg(long, default_value_t = 30)]
        secs: u64,
    },
    /// Every party waits SECS seconds after set-up, then computes one private product and
    /// prints `RESULT [..]`.
    Wait {
        #[arg(long, default_value_t = 2)]
        secs: u64,
    },
    /// Party VICTIM exits with CODE after set-up.
    Exit {
        #[arg(long, default_value_t = 1)]
        victim: usize,
        #[arg(long, default_value_t = 3)]
        code: i32,
    },
}

pub(crate) fn run(prog: Testprog) -> Result<()> {
    let s = umbra::init()?;
    let me = s.party();
    match prog {
        Testprog::MatmulRelu => {
            let out = apps::testprog::matmul_relu(&s)?;
            println!("RESULT {}", serde_json::to_string(&out)?);
        }
        Testprog::Crash { victim } => {
            apps::testprog::one_mul(&s)?;
            if me == victim {
                eprintln!("party {me}: crashing on purpose");
                std::process::abort();
            }
            apps::testprog::one_mul(&s)?;
        }
        Testprog::Stall { victim, secs } => {
            apps::testprog::one_mul(&s)?;
            if me == victim {
                eprintln!("party {me}: stalling for {secs} s on purpose");
                std::thread::sleep(Duration::from_secs(secs));
                return Ok(());
            }
            apps::testprog::one_mul(&s)?;
        }
        Testprog::Wait { secs } => {
            std::thread::sleep(Duration::from_secs(secs));
            let out = apps::testprog::matmul_relu(&s)?;
            println!("RESULT {}", serde_json::to_string(&out)?);
        }
        Testprog::Exit { victim, code } => {
            if me == victim {
                eprintln!("party {me}: exiting with {code} on purpose");
                std::process::exit(code);
            }
            apps::testprog::one_mul(&s)?;
        }
    }
    Ok(())
}
