//! The `umbra` command line's library half: the demos ([`demo`], on the data sets in
//! [`data`]), the benchmarks ([`mod@bench`]) and the small party programs the multi-process tests
//! run ([`testprog`]). Not published and not part of umbra's API: a program that uses umbra
//! depends on the `umbra` crate alone.
#![doc(test(attr(deny(warnings))))]

pub mod bench;
pub mod data;
pub mod demo;
pub mod infer;
pub mod testprog;
