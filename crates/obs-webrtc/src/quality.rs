//! The call-quality score recorded in `webrtc_quality_score`.

/// Computes the call-quality score: 0 (unusable) to 5 (excellent), from RTT, packet loss and jitter.
///
/// The score starts at 5 and loses points past thresholds that follow ITU-T G.114 (one-way delay
/// under 150 ms, i.e. RTT under about 300 ms, is good) and common VoIP guidance (loss under 1 %,
/// jitter under 30 ms go unnoticed):
///
/// | input | no penalty up to | penalty above it | largest penalty |
/// |---|---|---|---|
/// | round-trip time | 150 ms | 1 point per 150 ms | 2 |
/// | packet loss | 0.5 % | 0.5 point per percent | 3 |
/// | jitter | 30 ms | 1 point per 30 ms | 1.5 |
///
/// So a loopback call scores 5, 450 ms RTT alone scores 3, 5 % loss alone scores 2.75, and a
/// call with 600 ms RTT, 8 % loss and 100 ms jitter scores 0. An input that is not known yet
/// (no media flowing, no RTT measured) costs nothing.
pub fn quality_score(
    rtt_ms: Option<f64>,
    loss_percent: Option<f64>,
    jitter_ms: Option<f64>,
) -> f64 {
    let over = |value: Option<f64>, threshold: f64| {
        value
            .filter(|v| v.is_finite())
            .map_or(0.0, |v| (v - threshold).max(0.0))
    };
    let rtt_penalty = (over(rtt_ms, 150.0) / 150.0).min(2.0);
    let loss_penalty = (over(loss_percent, 0.5) * 0.5).min(3.0);
    let jitter_penalty = (over(jitter_ms, 30.0) / 30.0).min(1.5);
    (5.0 - rtt_penalty - loss_penalty - jitter_penalty).clamp(0.0, 5.0)
}

#[cfg(test)]
mod tests {
    use super::quality_score;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn thresholds_match_the_documented_table() {
        let cases = [
            (Some(1.0), Some(0.0), Some(1.0), 5.0),
            (None, None, None, 5.0),
            (Some(150.0), Some(0.5), Some(30.0), 5.0),
            (Some(450.0), None, None, 3.0),
            (Some(10_000.0), None, None, 3.0),
            (None, Some(5.0), None, 2.75),
            (None, Some(100.0), None, 2.0),
            (None, None, Some(60.0), 4.0),
            (None, None, Some(1_000.0), 3.5),
            (Some(600.0), Some(8.0), Some(100.0), 0.0),
            (Some(f64::NAN), Some(f64::INFINITY), None, 5.0),
        ];
        for (rtt, loss, jitter, expected) in cases {
            let score = quality_score(rtt, loss, jitter);
            assert!(
                close(score, expected),
                "{rtt:?} {loss:?} {jitter:?}: {score}"
            );
        }
    }

    #[test]
    fn the_score_never_rises_when_an_input_worsens() {
        let mut last = 5.0;
        for step in 0..100 {
            let x = f64::from(step);
            let score = quality_score(Some(x * 10.0), Some(x * 0.2), Some(x * 2.0));
            assert!((0.0..=5.0).contains(&score));
            assert!(score <= last);
            last = score;
        }
    }
}
