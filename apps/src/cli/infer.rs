//! `umbra infer`: private inference of an ONNX model on `.npy` inputs.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use apps::infer::{Roles, infer_party, infer_plaintext, read_npy, write_npy};
use clap::Args as ClapArgs;

use super::bench::CompareArg;
use apps::bench::compare_name;
use mpc::SessionConfig;
use tensor::FloatTensor;
use umbra::onnx::Model;

#[derive(ClapArgs)]
pub(crate) struct Args {
    /// The ONNX model (its weights are the model owner's: party 0).
    #[arg(long)]
    model: PathBuf,
    /// An input as NAME=FILE.npy, or FILE.npy for a model with one input (the input owner's:
    /// the last party). Repeat for several inputs.
    #[arg(long = "input", value_name = "[NAME=]FILE")]
    inputs: Vec<String>,
    /// Where the outputs go: FILE.npy for one output, or a folder (one NAME.npy per output).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Number of in-process parties (at least 2).
    #[arg(long, default_value_t = 2)]
    parties: usize,
    /// Comparisons from circuits or from the dealer's FSS keys (2 parties).
    #[arg(long, value_enum, default_value_t = CompareArg::Circuit)]
    compare: CompareArg,
    /// Join the session this process was started for (`umbra launch` / `umbra party`)
    /// instead of running the parties in-process: party 0 holds the model, the last party the
    /// inputs (only it needs --input) and receives the outputs.
    #[arg(long)]
    party: bool,
}

fn parse_inputs(model: &Model, specs: &[String]) -> Result<Vec<(String, FloatTensor)>> {
    specs
        .iter()
        .map(|spec| {
            let (name, path) = match spec.split_once('=') {
                Some((n, p)) => (n.to_string(), PathBuf::from(p)),
                None if model.inputs.len() == 1 => (model.inputs[0].name.clone(), spec.into()),
                None => bail!(
                    "the model has {} inputs ({}): give each as NAME=FILE.npy",
                    model.inputs.len(),
                    model
                        .inputs
                        .iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            Ok((name, read_npy(&path)?))
        })
        .collect()
}

fn write_outputs(model: &Model, out: Option<&PathBuf>, values: &[FloatTensor]) -> Result<()> {
    for (info, v) in model.outputs.iter().zip(values) {
        let preview: Vec<String> = v
            .as_slice()
            .iter()
            .take(6)
            .map(|x| format!("{x:.5}"))
            .collect();
        println!(
            "output {} {:?}: [{}{}]",
            info.name,
            v.shape(),
            preview.join(", "),
            if v.numel() > 6 { ", ..." } else { "" }
        );
    }
    let Some(out) = out else { return Ok(()) };
    if values.len() == 1 && out.extension().is_some_and(|e| e == "npy") {
        write_npy(out, &values[0])?;
        println!("wrote {}", out.display());
        return Ok(());
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (info, v) in model.outputs.iter().zip(values) {
        let safe: String = info
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let p = out.join(format!("{safe}.npy"));
        write_npy(&p, v)?;
        println!("wrote {}", p.display());
    }
    Ok(())
}

pub(crate) fn run(args: Args) -> Result<()> {
    let model = Model::load(&args.model)?;
    let config = SessionConfig {
        compare: args.compare.into(),
        ..SessionConfig::default()
    };
    if args.party {
        let s = umbra::init_with(config)?;
        let roles = Roles {
            model_owner: 0,
            input_owner: s.n_parties() - 1,
        };
        // only the input owner reads --input (under `umbra launch` every party is given it)
        let inputs = if s.party() == roles.input_owner {
            Some(parse_inputs(&model, &args.inputs)?)
        } else {
            None
        };
        let t = Instant::now();
        let out = infer_party(&s, &model, roles, inputs.as_deref())?;
        let stats = s.stats();
        eprintln!(
            "party {}: {:.3} s, {} rounds, {} bytes sent",
            s.party(),
            t.elapsed().as_secs_f64(),
            stats.rounds,
            stats.bytes_sent
        );
        if let Some(out) = out {
            write_outputs(&model, args.output.as_ref(), &out)?;
        }
        return Ok(());
    }
    if args.parties < 2 {
        bail!(
            "--parties {}: private inference needs at least 2",
            args.parties
        );
    }
    let inputs = parse_inputs(&model, &args.inputs)?;
    let reference = infer_plaintext(&model, &inputs)?;
    let roles = Roles {
        model_owner: 0,
        input_owner: args.parties - 1,
    };
    let t = Instant::now();
    let runs = umbra::run_local(args.parties, config, |s| {
        let mine = (s.party() == roles.input_owner).then_some(inputs.as_slice());
        let out =
            infer_party(&s, &model, roles, mine).map_err(|e| mpc::Error::InvalidArgument {
                op: "infer",
                reason: format!("{e:#}"),
            })?;
        Ok((out, s.stats(), s.dealer_stats()))
    })?;
    let wall = t.elapsed().as_secs_f64();
    let (_, stats, dealer) = &runs[0];
    println!(
        "{}: opset {}, {} nodes; {} parties in-process ({} comparisons): {wall:.3} s, {} rounds, \
         {:.2} MB sent by party 0, {:.2} MB from the dealer to party 0",
        args.model.display(),
        model.opset,
        model.nodes.len(),
        args.parties,
        compare_name(config.compare),
        stats.rounds,
        stats.bytes_sent as f64 / 1e6,
        dealer.bytes_received as f64 / 1e6
    );
    let out = runs[roles.input_owner]
        .0
        .clone()
        .context("the input owner's outputs")?;
    let worst = out
        .iter()
        .zip(&reference)
        .flat_map(|(p, f)| {
            p.as_slice()
                .iter()
                .zip(f.as_slice())
                .map(|(a, b)| (a - b).abs())
        })
        .fold(0.0f64, f64::max);
    println!("largest |private - f64 reference| over the outputs: {worst:.3e}");
    write_outputs(&model, args.output.as_ref(), &out)
}
