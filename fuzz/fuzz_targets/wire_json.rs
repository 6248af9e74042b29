//! Fuzz the network-facing JSON decoders: Segment (single and batch), GA4, PostHog.
//! The first byte picks the decoder; none may panic on any input.
#![no_main]

use glint_event::wire::{DecodeOptions, Decoder};
use glint_event::{EventKind, Taxonomy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let d = Decoder::new(Taxonomy::default(), DecodeOptions::default());
    let now = 1_767_225_600_000;
    let _ = match pick % 5 {
        0 => d.segment_batch(body, now).map(|b| b.messages.len()),
        1 => d.segment_single(EventKind::Track, body, now).map(|b| b.messages.len()),
        2 => d.segment_single(EventKind::Identify, body, now).map(|b| b.messages.len()),
        3 => d.ga4_collect(body, now).map(|b| b.messages.len()),
        _ => d.posthog_capture(body, now).map(|b| b.messages.len()),
    };
});
