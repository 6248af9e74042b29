//! Reading Glint's own Prometheus text exposition (`/metrics`): histograms and counters summed
//! over their series — for the demo's summary and the benchmarks.

/// A Prometheus histogram summed over its label sets: (upper bound, cumulative count).
pub struct Histogram {
    buckets: Vec<(f64, f64)>,
    /// Observations.
    pub count: f64,
}

impl Histogram {
    /// The upper bound of the bucket holding the `q` quantile: what the buckets prove.
    pub fn bucket_bound(&self, q: f64) -> f64 {
        if self.count <= 0.0 {
            return f64::NAN;
        }
        self.buckets.iter().find(|&&(_, cum)| cum >= q * self.count).map_or(f64::INFINITY, |&(le, _)| le)
    }

    /// The `q` quantile by linear interpolation within its bucket (as Prometheus's
    /// `histogram_quantile`); the highest finite bound when it falls in `+Inf`; NaN when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.count <= 0.0 {
            return f64::NAN;
        }
        let rank = q * self.count;
        let (mut lo, mut below) = (0.0, 0.0);
        for &(le, cum) in &self.buckets {
            if cum >= rank {
                if le.is_infinite() {
                    return lo;
                }
                return if cum > below { lo + (le - lo) * (rank - below) / (cum - below) } else { le };
            }
            (lo, below) = (le, cum);
        }
        lo
    }
}

/// Parse histogram `name` from a text exposition, adding up its series.
pub fn histogram(metrics: &str, name: &str) -> Histogram {
    let prefix = format!("{name}_bucket{{");
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix(&prefix) else { continue };
        let Some((labels, value)) = rest.split_once("} ") else { continue };
        let Some(le) = labels.split(',').find_map(|l| l.trim().strip_prefix("le=\"")).map(|l| l.trim_end_matches('"')) else { continue };
        let le = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap_or(f64::NAN) };
        let Ok(value) = value.trim().parse::<f64>() else { continue };
        if le.is_nan() {
            continue;
        }
        match buckets.iter_mut().find(|(b, _)| *b == le) {
            Some((_, c)) => *c += value,
            None => buckets.push((le, value)),
        }
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    Histogram { count: counter(metrics, &format!("{name}_count"), None), buckets }
}

/// The sum of a counter or gauge over its series, optionally only those whose labels
/// contain `having` (e.g. `outcome="sent"`).
pub fn counter(metrics: &str, name: &str, having: Option<&str>) -> f64 {
    metrics
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = if let Some(r) = rest.strip_prefix('{') { r.split_once("} ")? } else { ("", rest.strip_prefix(' ')?) };
            if having.is_some_and(|h| !labels.contains(h)) {
                return None;
            }
            value.trim().parse::<f64>().ok()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS: &str = "glint_x_seconds_sum 1.0\nglint_x_seconds_count 10\n\
        glint_x_seconds_bucket{le=\"0.001\"} 0\nglint_x_seconds_bucket{le=\"0.002\"} 5\n\
        glint_x_seconds_bucket{le=\"0.004\"} 9\nglint_x_seconds_bucket{le=\"+Inf\"} 10\n\
        glint_y_total{moment=\"a\",outcome=\"sent\"} 3\nglint_y_total{moment=\"b\",outcome=\"holdout\"} 4\n";

    #[test]
    fn histogram_quantiles_interpolate_within_buckets() {
        let h = histogram(METRICS, "glint_x_seconds");
        assert_eq!(h.count, 10.0);
        assert!((h.quantile(0.5) - 0.002).abs() < 1e-12);
        assert!((h.quantile(0.25) - 0.0015).abs() < 1e-12);
        assert!((h.quantile(0.7) - 0.003).abs() < 1e-12);
        // In +Inf: the highest finite bound.
        assert!((h.quantile(0.99) - 0.004).abs() < 1e-12);
        assert!(histogram("", "glint_x_seconds").quantile(0.5).is_nan());
        assert_eq!(h.bucket_bound(0.5), 0.002);
        assert_eq!(h.bucket_bound(0.7), 0.004);
        assert!(h.bucket_bound(0.99).is_infinite());
    }

    #[test]
    fn counters_add_up_series() {
        assert_eq!(counter(METRICS, "glint_y_total", None), 7.0);
        assert_eq!(counter(METRICS, "glint_y_total", Some("outcome=\"sent\"")), 3.0);
        assert_eq!(counter(METRICS, "glint_x_seconds_count", None), 10.0);
    }
}
