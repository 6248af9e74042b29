//! Fuzz the import parsers (CSV formats and JSON lines): the first byte picks the format;
//! rows may be rejected, but nothing may panic.
#![no_main]

use glint_event::Taxonomy;
use glint_event::datasets::{DatasetFormat, Importer};
use glint_event::wire::{DecodeOptions, Decoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let (_, format) = DatasetFormat::ALL[pick as usize % DatasetFormat::ALL.len()];
    let d = Decoder::new(Taxonomy::default(), DecodeOptions::default());
    let mut imp = Importer::new(format, &d, &[], 0);
    let _ = imp.run(body, |_| Ok::<(), ()>(()));
});
