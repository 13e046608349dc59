//! Everything a receiver does with bytes from a peer: parse a frame header, check it
//! against the link, decode the control message its tag names (hello, dealer requests).
//! Must never panic or allocate beyond the input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = party::wire::fuzz_decode(data);
});
