//! Codebook rows from k-means centroids, for dot-product codes.
//!
//! Diverse clustering starts each step's codebook from balanced k-means centroids of the
//! documents' decoder states, but a document's code is the argmax of `d_T . e_z`, not its
//! nearest centroid. The two agree only when the states carry no large shared component:
//! every state holds the corpus mean, and at step T > 1 also its prefix group's mean (the
//! decoder has read the prefix), so the rows that lean towards a group's mean win for every
//! document of the group and the step collapses. Removing those mean directions from the rows
//! leaves a codebook whose argmax follows the clusters. The trainer logs how often it does
//! (`argmax_agreement`).

use std::collections::BTreeMap;

use tch::{Kind, Tensor};

/// Documents grouped by their prefix `codes[i][..step]`, in prefix order (one group, the
/// corpus, at step 0).
pub fn prefix_groups(codes: &[Vec<u32>], step: usize) -> BTreeMap<&[u32], Vec<usize>> {
    let mut groups: BTreeMap<&[u32], Vec<usize>> = BTreeMap::new();
    for (i, c) in codes.iter().enumerate() {
        groups.entry(&c[..step.min(c.len())]).or_default().push(i);
    }
    groups
}

/// The rows `rows` as an index tensor.
pub fn row_index(rows: &[usize]) -> Tensor {
    Tensor::from_slice(&rows.iter().map(|&i| i as i64).collect::<Vec<_>>())
}

/// The mean state of each group (from [`prefix_groups`]), scaled by the square root of the
/// group's size, so that the main directions of the rows are those that carry most of the
/// documents' shared offset: `[groups, D]`.
pub fn group_means(states: &Tensor, groups: &BTreeMap<&[u32], Vec<usize>>) -> Tensor {
    if groups.is_empty() {
        return states.mean_dim([0i64].as_slice(), true, Kind::Double);
    }
    let rows: Vec<Tensor> = groups
        .values()
        .map(|rows| {
            let g = states.index_select(0, &row_index(rows));
            g.mean_dim([0i64].as_slice(), true, Kind::Double) * (rows.len() as f64).sqrt()
        })
        .collect();
    Tensor::cat(&rows, 0)
}

/// `centroids` (`[K, D]`) with the main directions of the rows of `means` (`[G, D]`) removed:
/// the fewest right singular vectors that hold 99% of the rows' energy, and at most half the
/// dimensions, so the codes keep room to differ. With one row, exactly its own direction.
pub fn remove_directions(centroids: &Tensor, means: &Tensor) -> Tensor {
    let dim = means.size()[1];
    let (_, s, v) = means.to_kind(Kind::Double).svd(true, true); // v: [D, min(G, D)]
    let energy: Vec<f64> = Vec::try_from(s.square()).unwrap_or_default();
    let total: f64 = energy.iter().sum();
    // Also catches a NaN total: nothing to remove.
    if total.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return centroids.shallow_clone();
    }
    let (mut kept, mut r) = (0.0, 0i64);
    for e in &energy {
        if kept >= 0.99 * total || r >= (dim / 2).max(1) {
            break;
        }
        kept += e;
        r += 1;
    }
    let basis = v.narrow(1, 0, r).tr().to_kind(centroids.kind()); // [r, D], orthonormal rows
    centroids - centroids.matmul(&basis.tr()).matmul(&basis)
}

/// `centroids` with every row rescaled to the rows' mean norm. A dot-product argmax favours
/// long rows: a cluster near the centre of the data has a short centroid and loses to its
/// neighbours even for its own members, so its code goes unused (on MS MARCO, half the codes
/// of step 2 were never chosen, and their rows were 40% shorter). Equal norms make the argmax
/// a choice of direction.
pub fn equalize_norms(centroids: &Tensor) -> Tensor {
    let norms = centroids
        .norm_scalaropt_dim(2, [1i64].as_slice(), true)
        .clamp_min(1e-12);
    let mean = norms.mean(norms.kind());
    centroids / norms * mean
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agreement(states: &Tensor, rows: &Tensor, labels: &[i64]) -> f64 {
        let argmax = states.matmul(&rows.tr()).argmax(-1, false);
        argmax
            .eq_tensor(&Tensor::from_slice(labels))
            .to_kind(Kind::Double)
            .mean(Kind::Double)
            .double_value(&[])
    }

    /// Four prefix groups with large, different mean offsets; inside each group, points lie
    /// around K = 4 cluster centres shared by every group.
    fn grouped(seed: i64) -> (Tensor, Vec<Vec<u32>>, Tensor, Vec<i64>) {
        tch::manual_seed(seed);
        let (dim, k, groups, per) = (32i64, 4i64, 4i64, 50i64);
        let centres = Tensor::randn([k, dim], (Kind::Double, tch::Device::Cpu));
        let offsets = Tensor::randn([groups, dim], (Kind::Double, tch::Device::Cpu)) * 6.0 + 3.0;
        let (mut xs, mut codes, mut labels) = (Vec::new(), Vec::new(), Vec::new());
        for g in 0..groups {
            for i in 0..per {
                let c = i % k;
                let noise = Tensor::randn([1, dim], (Kind::Double, tch::Device::Cpu)) * 0.2;
                xs.push(offsets.get(g).unsqueeze(0) + centres.get(c).unsqueeze(0) + noise);
                codes.push(vec![g as u32]);
                labels.push(c);
            }
        }
        (Tensor::cat(&xs, 0), codes, centres, labels)
    }

    #[test]
    fn removing_prefix_means_restores_argmax_agreement() {
        let (states, codes, centres, labels) = grouped(3);
        // Centroids as k-means on group-centred states would give them: centre + global mean.
        let global = states.mean_dim([0i64].as_slice(), true, Kind::Double);
        let centroids = &centres + &global;
        let only_global = remove_directions(&centroids, &global);
        let per_group =
            remove_directions(&centroids, &group_means(&states, &prefix_groups(&codes, 1)));
        let (a_global, a_group) = (
            agreement(&states, &only_global, &labels),
            agreement(&states, &per_group, &labels),
        );
        assert!(a_group > 0.95, "prefix means removed: {a_group}");
        assert!(a_global < 0.8, "only the corpus mean removed: {a_global}");
    }

    #[test]
    fn equal_norms_keep_directions_and_mean_length() {
        let c = Tensor::from_slice(&[3.0f64, 4.0, 0.0, 1.0]).view([2, 2]);
        let out: Vec<f64> = Vec::try_from(equalize_norms(&c).view([-1])).unwrap();
        let want = [0.6 * 3.0, 0.8 * 3.0, 0.0, 3.0];
        assert!(
            out.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12),
            "{out:?}"
        );
    }

    #[test]
    fn one_mean_removes_exactly_its_direction() {
        let c = Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0, 0.0, 1.0]).view([2, 3]);
        let mean = Tensor::from_slice(&[0.0f64, 0.0, 2.0]).view([1, 3]);
        let out: Vec<f64> = Vec::try_from(remove_directions(&c, &mean).view([-1])).unwrap();
        assert_eq!(out, vec![1.0, 2.0, 0.0, 4.0, 0.0, 0.0]);
        let zero = Tensor::zeros([1, 3], (Kind::Double, tch::Device::Cpu));
        assert!(
            remove_directions(&c, &zero).equal(&c),
            "no direction to remove"
        );
    }

    #[test]
    fn group_means_are_size_weighted_per_prefix() {
        let states = Tensor::from_slice(&[1.0f64, 3.0, 10.0]).view([3, 1]);
        let codes = vec![vec![0, 5], vec![0, 6], vec![1, 5]];
        let m: Vec<f64> =
            Vec::try_from(group_means(&states, &prefix_groups(&codes, 1)).view([-1])).unwrap();
        assert_eq!(m.len(), 2);
        assert!(
            (m[0] - 2.0 * 2f64.sqrt()).abs() < 1e-12 && (m[1] - 10.0).abs() < 1e-12,
            "{m:?}"
        );
        let m0: Vec<f64> =
            Vec::try_from(group_means(&states, &prefix_groups(&codes, 0)).view([-1])).unwrap();
        assert!((m0[0] - 14.0 / 3.0 * 3f64.sqrt()).abs() < 1e-12, "{m0:?}");
    }
}
