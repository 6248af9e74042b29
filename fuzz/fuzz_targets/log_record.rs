//! Fuzz the log's record decoder and active-segment recovery with arbitrary bytes: they must
//! report corruption or cut a torn tail, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = glint_log::fuzzing::decode_record(data);
    if data.first().is_some_and(|b| b % 8 == 0) {
        let _ = glint_log::fuzzing::recover_active(&data[1..]);
    }
});
