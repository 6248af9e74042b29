//! Ordered reads: a k-way merge of segments by (event time, ingest sequence).
//!
//! Sealed segments are sorted inside; the active segment is sorted when read. Segments are
//! opened lazily, in order of their earliest event, only once the merge reaches that time, so
//! memory holds the segments that overlap in time (usually one or two), not the whole log.
//! Chunks outside the requested time range are never decompressed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fs::File;
use std::ops::Bound;
use std::path::PathBuf;

use glint_event::Event;

use crate::Error;
use crate::segment::SealedSegment;

/// One input of the merge.
#[derive(Debug)]
pub(crate) enum Source {
    Sealed { seg: SealedSegment, file: Option<File>, next_chunk: usize },
    Pending { path: PathBuf, id: u64, min_time: i64 },
}

impl Source {
    pub(crate) fn sealed(seg: SealedSegment) -> Source {
        Source::Sealed { seg, file: None, next_chunk: 0 }
    }

    fn min_time(&self) -> i64 {
        match self {
            Source::Sealed { seg, .. } => seg.meta.min_time,
            Source::Pending { min_time, .. } => *min_time,
        }
    }
}

/// An iterator over events in (event time, ingest order), within a time range and, for
/// [`Log::scan_after_seq`](crate::Log::scan_after_seq), after an ingest sequence number.
///
/// As an [`Iterator`] it yields events; [`Scan::next_with_seq`] yields each with its sequence
/// number (the two may be mixed: both advance the same merge).
#[derive(Debug)]
pub struct Scan {
    sources: Vec<(Source, VecDeque<(u64, Event)>)>,
    next_open: usize,
    heap: BinaryHeap<Reverse<(i64, u64, usize)>>,
    range: (Bound<i64>, Bound<i64>),
    /// Only records with a sequence number above this (0: all, sequence numbers start at 1).
    after_seq: u64,
    failed: bool,
}

fn before_start(t: i64, r: &(Bound<i64>, Bound<i64>)) -> bool {
    match r.0 {
        Bound::Included(s) => t < s,
        Bound::Excluded(s) => t <= s,
        Bound::Unbounded => false,
    }
}

fn after_end(t: i64, r: &(Bound<i64>, Bound<i64>)) -> bool {
    match r.1 {
        Bound::Included(e) => t > e,
        Bound::Excluded(e) => t >= e,
        Bound::Unbounded => false,
    }
}

impl Scan {
    pub(crate) fn new(mut sources: Vec<Source>, range: (Bound<i64>, Bound<i64>), after_seq: u64) -> Result<Scan, Error> {
        // A sealed segment whose largest sequence number is not after `after_seq` holds
        // nothing wanted: it is dropped here, never opened or decompressed.
        sources.retain(|s| match s {
            Source::Sealed { seg, .. } => !after_end(seg.meta.min_time, &range) && !before_start(seg.meta.max_time, &range) && seg.max_seq > after_seq,
            Source::Pending { .. } => true,
        });
        sources.sort_by_key(Source::min_time);
        Ok(Scan { sources: sources.into_iter().map(|s| (s, VecDeque::new())).collect(), next_open: 0, heap: BinaryHeap::new(), range, after_seq, failed: false })
    }

    /// Load the next batch of events of source `idx` into its buffer; false when exhausted.
    fn refill(&mut self, idx: usize) -> Result<bool, Error> {
        let (range, after_seq) = (self.range, self.after_seq);
        let wanted = |seq: u64, e: &Event| seq > after_seq && !before_start(e.time_ms, &range);
        let (src, buf) = &mut self.sources[idx];
        match src {
            Source::Sealed { seg, file, next_chunk } => {
                while *next_chunk < seg.chunks.len() {
                    let c = &seg.chunks[*next_chunk];
                    let i = *next_chunk;
                    *next_chunk += 1;
                    if after_end(c.first_time, &range) {
                        *next_chunk = seg.chunks.len();
                        break;
                    }
                    if before_start(c.last_time, &range) {
                        continue;
                    }
                    if file.is_none() {
                        *file = Some(File::open(&seg.path).map_err(|e| Error::io(&seg.path, e))?);
                    }
                    let Some(f) = file.as_mut() else { unreachable!("opened above") };
                    buf.extend(seg.read_chunk(f, i)?.into_iter().filter(|(seq, e)| wanted(*seq, e)));
                    if !buf.is_empty() {
                        return Ok(true);
                    }
                }
                *file = None;
                Ok(false)
            }
            Source::Pending { path, id, .. } => {
                let mut events = crate::read_pending_events(path, *id)?;
                events.retain(|(seq, e)| wanted(*seq, e));
                events.sort_by_key(|(seq, e)| (e.time_ms, *seq));
                buf.extend(events);
                // A pending source is read once; mark it exhausted by turning it into an empty
                // sealed-like state.
                *src = Source::Pending { path: PathBuf::new(), id: u64::MAX, min_time: i64::MAX };
                Ok(!buf.is_empty())
            }
        }
    }

    fn push_head(&mut self, idx: usize) -> Result<(), Error> {
        if self.sources[idx].1.is_empty() {
            let exhausted = matches!(&self.sources[idx].0, Source::Pending { id: u64::MAX, .. });
            if exhausted || !self.refill(idx)? {
                return Ok(());
            }
        }
        if let Some((seq, e)) = self.sources[idx].1.front() {
            self.heap.push(Reverse((e.time_ms, *seq, idx)));
        }
        Ok(())
    }

    fn step(&mut self) -> Result<Option<(u64, Event)>, Error> {
        // Open every source whose first event could come next: its earliest time is not after
        // the current head of the merge.
        while self.next_open < self.sources.len() {
            let t = self.sources[self.next_open].0.min_time();
            let head = self.heap.peek().map(|Reverse((time, _, _))| *time);
            if head.is_some_and(|h| t > h) {
                break;
            }
            let idx = self.next_open;
            self.next_open += 1;
            self.push_head(idx)?;
        }
        let Some(Reverse((time, seq, idx))) = self.heap.pop() else { return Ok(None) };
        let Some((s, e)) = self.sources[idx].1.pop_front() else { unreachable!("a heap entry has its event buffered") };
        assert_eq!((s, e.time_ms), (seq, time), "heap key matches the buffered event");
        self.push_head(idx)?;
        if after_end(time, &self.range) {
            self.heap.clear();
            self.next_open = self.sources.len();
            return Ok(None);
        }
        Ok(Some((seq, e)))
    }

    /// The next event with its ingest sequence number, in the same order as the iterator: a
    /// reader that checkpoints derived state records the last sequence number it applied and
    /// later resumes with [`Log::scan_after_seq`](crate::Log::scan_after_seq).
    ///
    /// # Errors
    /// As the iterator: an I/O error or corruption ends the scan after it is returned.
    pub fn next_with_seq(&mut self) -> Option<Result<(u64, Event), Error>> {
        if self.failed {
            return None;
        }
        match self.step() {
            Ok(item) => item.map(Ok),
            Err(err) => {
                self.failed = true;
                Some(Err(err))
            }
        }
    }
}

impl Iterator for Scan {
    type Item = Result<Event, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_with_seq().map(|r| r.map(|(_, e)| e))
    }
}
