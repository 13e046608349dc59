//! [`Storage`]: where a [`crate::RingTensor`]'s ring elements live.
//!
//! One variant per backend, as candle's `Storage`: host memory now; a device-resident variant
//! comes with the GPU backend behind a cargo feature. Every element access of `RingTensor`
//! goes through `Storage::cpu` and its siblings in this file, and the protocols of crate `mpc`
//! go through named kernels instead of slices: the ring kernels (`ring_kernels.rs`: the
//! masked opening, the Beaver and square combines, both truncations, PRG fill) and the word
//! kernels of the binary circuits (`word_kernels.rs`: XOR/AND, shifts, the carry tree's bit
//! re-packing, the binary Beaver combine, B2A and bit × value). Each kernel matches on the
//! storage, so a new variant makes the compiler list exactly the places that must learn it.
//! Raw host words appear only where a frame is written or read (a device tensor crosses to
//! the host only as a frame) and in the dealer, which is a host service.

use ndarray::ArrayD;

/// Where a tensor's elements are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    /// Host memory.
    Cpu,
}

/// A tensor's elements, in standard (row-major, contiguous) layout.
#[derive(Clone, PartialEq, Eq)]
pub enum Storage {
    /// Host memory.
    Cpu(ArrayD<u64>),
}

impl Storage {
    /// The device holding the elements.
    pub fn device(&self) -> Device {
        match self {
            Storage::Cpu(_) => Device::Cpu,
        }
    }

    /// The host array.
    pub(crate) fn cpu(&self) -> &ArrayD<u64> {
        match self {
            Storage::Cpu(a) => a,
        }
    }

    /// The host array, mutably.
    pub(crate) fn cpu_mut(&mut self) -> &mut ArrayD<u64> {
        match self {
            Storage::Cpu(a) => a,
        }
    }

    /// The host array, by value.
    pub(crate) fn into_cpu(self) -> ArrayD<u64> {
        match self {
            Storage::Cpu(a) => a,
        }
    }
}
