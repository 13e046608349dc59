//! The CUDA device (cargo feature `cuda`): opening a GPU and moving ring words to and from it.
//!
//! This is the first piece of the device backend that the storage seam ([`crate::Storage`])
//! was made for. The driver API comes from cudarc, which loads `libcuda` at run time, so the
//! crate builds and its CPU paths run on machines without CUDA. cudarc panics when the
//! library is absent, so [`driver_library`] looks for it first and [`CudaDevice::open`]
//! returns an error naming what is missing instead.
//!
//! The bindings are those of CUDA 12.8 (cudarc's `cuda-12080`): a driver of the 12.8 series
//! or newer is needed.
// The only unsafe code is loading the driver library to see whether it is there (SAFETY below).
#![allow(unsafe_code)]

use std::fmt;
use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaSlice, CudaStream};

use crate::error::{Error, Result};

/// The CUDA driver API version the bindings were generated for.
pub const CUDA_API: &str = "12.8";

fn driver_err(what: &str, e: impl fmt::Display) -> Error {
    Error::Device(format!("{what}: {e}"))
}

/// The name under which the CUDA driver library loads on this machine.
///
/// # Errors
/// [`Error::Device`] naming the library and the names tried, when none loads.
pub fn driver_library() -> Result<String> {
    let candidates = cudarc::get_lib_name_candidates("cuda");
    for name in &candidates {
        // SAFETY: loading a shared library runs its initialisers. The names are those cudarc
        // itself loads (the NVIDIA driver's libcuda); the handle is dropped at once, and
        // cudarc keeps its own.
        if unsafe { libloading::Library::new(name) }.is_ok() {
            return Ok(name.clone());
        }
    }
    Err(Error::Device(format!(
        "no CUDA driver on this machine: the driver library (libcuda.so.1, installed with the \
         NVIDIA driver) could not be loaded under any of {} names ({} ...); set \
         LD_LIBRARY_PATH if it is installed elsewhere",
        candidates.len(),
        candidates.first().map_or("", String::as_str)
    )))
}

/// An opened GPU: its context and the stream umbra's work is queued on.
pub struct CudaDevice {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    name: String,
    memory: usize,
    compute: (i32, i32),
}

impl fmt::Debug for CudaDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CudaDevice")
            .field("ordinal", &self.ctx.ordinal())
            .field("name", &self.name)
            .field("memory", &self.memory)
            .field("compute", &self.compute)
            .finish()
    }
}

/// Ring words in device memory.
pub struct DeviceWords {
    words: CudaSlice<u64>,
}

impl fmt::Debug for DeviceWords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Words on the device are shares as often as not: never print them.
        f.debug_struct("DeviceWords")
            .field("len", &self.words.len())
            .finish_non_exhaustive()
    }
}

impl DeviceWords {
    /// Number of words.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether there are no words.
    pub fn is_empty(&self) -> bool {
        self.words.len() == 0
    }
}

impl CudaDevice {
    /// Opens GPU `ordinal` (0 for the first).
    ///
    /// # Errors
    /// [`Error::Device`]: no driver library, no such device, or the driver refusing.
    pub fn open(ordinal: usize) -> Result<CudaDevice> {
        driver_library()?;
        let count = CudaContext::device_count().map_err(|e| driver_err("counting GPUs", e))?;
        if ordinal >= usize::try_from(count).unwrap_or(0) {
            return Err(Error::Device(format!(
                "no GPU {ordinal}: the driver sees {count}"
            )));
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| driver_err("opening the GPU", e))?;
        let name = ctx.name().map_err(|e| driver_err("naming the GPU", e))?;
        let memory = ctx.total_mem().map_err(|e| driver_err("GPU memory", e))?;
        let compute = ctx
            .compute_capability()
            .map_err(|e| driver_err("compute capability", e))?;
        let stream = ctx.default_stream();
        Ok(CudaDevice {
            ctx,
            stream,
            name,
            memory,
            compute,
        })
    }

    /// The device's name, as the driver reports it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Device memory in bytes.
    pub fn memory(&self) -> usize {
        self.memory
    }

    /// Compute capability `(major, minor)` (9.0 for H100 and H200).
    pub fn compute_capability(&self) -> (i32, i32) {
        self.compute
    }

    /// Copies host words to the device.
    ///
    /// # Errors
    /// Out of device memory, or the driver refusing.
    pub fn upload(&self, words: &[u64]) -> Result<DeviceWords> {
        let words = self
            .stream
            .clone_htod(words)
            .map_err(|e| driver_err("upload", e))?;
        Ok(DeviceWords { words })
    }

    /// Copies device words back to the host.
    ///
    /// # Errors
    /// The driver refusing.
    pub fn download(&self, words: &DeviceWords) -> Result<Vec<u64>> {
        self.stream
            .clone_dtoh(&words.words)
            .map_err(|e| driver_err("download", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a machine with a GPU: words survive a round trip. Without one: a clear error that
    /// names the driver, and no panic (cudarc would panic if it were asked first).
    #[test]
    fn a_gpu_round_trips_words_or_its_absence_is_named() {
        match CudaDevice::open(0) {
            Ok(dev) => {
                let words: Vec<u64> = (0..100_000u64)
                    .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                    .collect();
                let on_device = dev.upload(&words).unwrap();
                assert_eq!(on_device.len(), words.len());
                assert_eq!(dev.download(&on_device).unwrap(), words);
                assert!(dev.memory() > 0, "{dev:?}");
            }
            Err(e) => {
                let text = e.to_string();
                assert!(
                    text.contains("CUDA driver") || text.contains("no GPU"),
                    "{text}"
                );
                if driver_library().is_err() {
                    assert!(text.contains("libcuda.so.1"), "{text}");
                }
            }
        }
    }

    #[test]
    fn an_absent_device_is_refused_by_number() {
        let err = CudaDevice::open(1 << 20).unwrap_err().to_string();
        assert!(
            err.contains("CUDA driver") || err.contains("no GPU 1048576"),
            "{err}"
        );
    }
}
