//! Dot products and squared distances of dense vectors, shared by the balanced k-means here
//! (f64) and the plain k-means of the docid schemes (f32).
//!
//! Both sum in eight independent lanes so the compiler can vectorise the loop (a single
//! running sum cannot be reordered); the order of additions is fixed, so a result is still a
//! deterministic function of the inputs.

use std::iter::Sum;
use std::ops::{Add, AddAssign, Mul, Sub};

/// The floating-point types the kernels run on.
pub trait Real:
    Copy + Default + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + AddAssign + Sum
{
}
impl Real for f32 {}
impl Real for f64 {}

/// `a . b`. The slices must have the same length.
#[inline]
pub fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    lanes(a, b, |x, y| x * y)
}

/// `|a - b|^2`. The slices must have the same length.
#[inline]
pub fn sq_dist<T: Real>(a: &[T], b: &[T]) -> T {
    lanes(a, b, |x, y| {
        let d = x - y;
        d * d
    })
}

#[inline(always)]
fn lanes<T: Real>(a: &[T], b: &[T], term: impl Fn(T, T) -> T) -> T {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [T::default(); 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: T = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| term(x, y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += term(x[l], y[l]);
        }
    }
    acc.iter().copied().sum::<T>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_match_their_definitions_for_every_tail_length() {
        for n in [0, 1, 7, 8, 9, 19, 64] {
            let a: Vec<f64> = (0..n).map(|i| i as f64 * 0.5 - 3.0).collect();
            let b: Vec<f64> = (0..n).map(|i| (i * i) as f64 * 0.1).collect();
            let want_dot: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            let want_sq: f64 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
            assert!(
                (dot(&a, &b) - want_dot).abs() <= 1e-12 * want_dot.abs().max(1.0),
                "n={n}"
            );
            assert!(
                (sq_dist(&a, &b) - want_sq).abs() <= 1e-12 * want_sq.max(1.0),
                "n={n}"
            );
            let (a32, b32): (Vec<f32>, Vec<f32>) = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| (x as f32, y as f32))
                .unzip();
            assert!(
                (f64::from(sq_dist(&a32, &b32)) - want_sq).abs() <= 1e-4 * want_sq.max(1.0),
                "n={n}"
            );
        }
    }
}
