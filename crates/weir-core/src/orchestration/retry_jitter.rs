//! Retry jitter as Prefect spreads it: a "clamped Poisson interval". The delay is drawn from an
//! exponential distribution whose mean is the configured delay, restricted to
//! `[delay * lower, delay * (1 + factor)]`, where the lower bound is chosen so that the mean of
//! the restricted draw stays close to the configured delay. Many clients retrying after the same
//! failure thereby spread out instead of retrying in lock step.

/// The delay to wait instead of `delay` seconds, given `factor` (`retry_jitter_factor`) and a
/// uniform sample in `[0, 1)`. Without jitter (or without delay) the delay is unchanged.
pub fn jittered_delay(delay: f64, factor: f64, uniform: f64) -> f64 {
    let usable = |x: f64| x.is_finite() && x > 0.0;
    if !usable(delay) || !usable(factor) {
        return delay.max(0.0);
    }
    let upper = delay * (1.0 + factor);
    let k = 1.0 + factor;
    let lower = if k >= 50.0 {
        0.0
    } else {
        let power = k.exp2();
        delay * (power / (power - 1.0)).log2()
    };
    if uniform >= 1.0 {
        return upper;
    }
    // The exponential's CDF at both bounds; a uniform draw between them, mapped back.
    let cdf = |x: f64| 1.0 - (-x / delay).exp();
    let (low, high) = (cdf(lower), cdf(upper));
    let sample = low + uniform.clamp(0.0, 1.0) * (high - low);
    let drawn = -(1.0 - sample).max(1e-10).ln() * delay;
    drawn.clamp(lower, upper)
}

#[cfg(test)]
mod tests {
    use super::jittered_delay;

    #[test]
    fn no_jitter_keeps_the_delay() {
        assert_eq!(jittered_delay(10.0, 0.0, 0.3), 10.0);
        assert_eq!(jittered_delay(0.0, 0.5, 0.3), 0.0);
        assert_eq!(jittered_delay(-1.0, 0.5, 0.3), 0.0);
    }

    #[test]
    fn jittered_delays_stay_within_the_clamp_and_average_near_the_delay() {
        let (delay, factor) = (10.0, 0.5);
        let samples: Vec<f64> = (0..1000)
            .map(|i| jittered_delay(delay, factor, f64::from(i) / 1000.0))
            .collect();
        let lowest = samples.iter().copied().fold(f64::INFINITY, f64::min);
        let highest = samples.iter().copied().fold(0.0, f64::max);
        assert!(lowest > 0.0 && highest <= delay * (1.0 + factor) + 1e-9);
        assert!(
            highest - lowest > 5.0,
            "the draws spread: {lowest}..{highest}"
        );
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        assert!((mean - delay).abs() < 1.5, "mean {mean}");
        for pair in samples.windows(2) {
            assert!(pair[0] <= pair[1], "monotonic in the sample");
        }
    }
}
