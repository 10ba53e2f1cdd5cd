//! Hierarchical k-means docids (DSI's *semantically structured identifiers*, as in NCI).
//!
//! # The idea
//!
//! Documents with similar embeddings should share docid prefixes, so that the retriever
//! decides coarse topics first and fine distinctions later. Build a tree top-down:
//!
//! 1. cluster the documents of a node into (at most) `k` groups with plain k-means
//!    (k-means++ seeding, seeded and deterministic); each group becomes a child, and the
//!    child's index `0..k` is the next code;
//! 2. recurse into every child with more than `leaf_size` documents;
//! 3. a node with at most `leaf_size` documents is a **leaf**: its documents, in document
//!    order, get positions `0, 1, ...` as their last code.
//!
//! A document's docid is the path of child indices from the root to its leaf, then its
//! position in the leaf, right-padded with code `0` to the common length
//! `max leaf depth + 1`. Every code is below `K = max(k, leaf_size)`.
//!
//! **Padding cannot collide.** Two documents in the same leaf differ in their position
//! code. Two documents in different leaves have paths that first differ at some depth `t`
//! (neither path can be a prefix of the other: a padded path ends at a leaf, and a leaf has
//! no children), and both docids hold their path codes at depth `t`, before any padding.
//!
//! **Degenerate splits.** k-means cannot separate identical embeddings: on a node of
//! duplicates it returns a single cluster, and recursing would never end. Whenever a split
//! does not make the largest group smaller than the node (that is, k-means found a single
//! cluster), the node's documents are instead cut by position into `min(k, n)` chunks of
//! nearly equal size, whose centroids are the chunk means. Every child is then strictly
//! smaller than its parent, so the recursion always terminates.
//!
//! # New documents
//!
//! The tree (every internal node's centroids) and each leaf's next free position are the
//! [`HKMeansState`]. A new document descends from the root to the nearest centroid
//! (squared L2) at every level and takes the next free position of the leaf it reaches;
//! positions may grow up to `K - 1`, so new codes stay inside the codebook. If that leaf
//! already holds `K` documents, the search backtracks depth-first: the next-nearest sibling
//! (itself descended nearest-first), then the next-nearest after that, then the siblings of
//! the parent, and so on; the first leaf with room wins. Only when every leaf is full is
//! there no free docid (an error).
//!
//! Because training labels are each document's nearest returned centroid, a new document
//! whose embedding equals a training document's reaches that document's leaf, except below
//! a degenerate (chunked) split, where identical embeddings go to the first chunk.

use std::collections::VecDeque;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{DocidError, Result};
use crate::{check_embeddings, check_new_embedding, kmeans, Assignment, SchemeConfig, SchemeState};

/// One node of the tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Node {
    /// Children are nodes `children[code]`, with centroids `centroids[code * dim..]`.
    Internal {
        centroids: Vec<f32>,
        children: Vec<usize>,
    },
    /// A leaf; its documents hold positions `0..next_free`.
    Leaf { next_free: u32 },
}

/// The hierarchical k-means tree and each leaf's next free position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawState")]
pub struct HKMeansState {
    dim: usize,
    codebook_size: usize,
    docid_len: usize,
    /// `nodes[0]` is the root; a child's index is always larger than its parent's.
    nodes: Vec<Node>,
}

/// [`HKMeansState`] as stored, before its consistency is checked.
#[derive(Deserialize)]
struct RawState {
    dim: usize,
    codebook_size: usize,
    docid_len: usize,
    nodes: Vec<Node>,
}

impl TryFrom<RawState> for HKMeansState {
    type Error = DocidError;

    fn try_from(raw: RawState) -> Result<Self> {
        let bad = |reason: String| DocidError::CorruptState {
            scheme: "hkmeans",
            reason,
        };
        if raw.dim == 0
            || raw.nodes.is_empty()
            || raw.codebook_size == 0
            || raw.codebook_size > u32::MAX as usize
        {
            return Err(bad(
                "dim, codebook_size and the node list must be non-empty and in range".into(),
            ));
        }
        let mut depth = vec![usize::MAX; raw.nodes.len()];
        depth[0] = 0;
        for (i, node) in raw.nodes.iter().enumerate() {
            if depth[i] == usize::MAX {
                return Err(bad(format!("node {i} is not reachable from the root")));
            }
            match node {
                Node::Internal {
                    centroids,
                    children,
                } => {
                    if children.is_empty()
                        || children.len() > raw.codebook_size
                        || centroids.len() != children.len() * raw.dim
                    {
                        return Err(bad(format!(
                            "internal node {i} has inconsistent children/centroids"
                        )));
                    }
                    for &c in children {
                        if c <= i || c >= raw.nodes.len() || depth[c] != usize::MAX {
                            return Err(bad(format!("internal node {i} has an invalid child {c}")));
                        }
                        depth[c] = depth[i] + 1;
                    }
                }
                Node::Leaf { next_free } => {
                    if *next_free as usize > raw.codebook_size || depth[i] >= raw.docid_len {
                        return Err(bad(format!(
                            "leaf {i} does not fit the docid length or codebook"
                        )));
                    }
                }
            }
        }
        Ok(Self {
            dim: raw.dim,
            codebook_size: raw.codebook_size,
            docid_len: raw.docid_len,
            nodes: raw.nodes,
        })
    }
}

/// Assigns hierarchical k-means docids to the rows of `embeddings` (`n x dim`, row-major),
/// using `cfg.hkmeans_k`, `cfg.leaf_size`, `cfg.kmeans_iters` and `cfg.seed`.
pub fn assign(cfg: &SchemeConfig, embeddings: &[f32], dim: usize) -> Result<Assignment> {
    let n = check_embeddings(embeddings, dim)?;
    let (k, leaf_size) = (cfg.hkmeans_k, cfg.leaf_size);
    if k < 2 {
        return Err(DocidError::InvalidConfig {
            name: "hkmeans_k",
            reason: format!("must be at least 2, got {k}"),
        });
    }
    if leaf_size == 0 {
        return Err(DocidError::InvalidConfig {
            name: "leaf_size",
            reason: "must be at least 1".into(),
        });
    }
    let codebook_size = k.max(leaf_size);
    if codebook_size > u32::MAX as usize {
        return Err(DocidError::TooManyCodes {
            reason: format!("codebook size max(k, leaf_size) = {codebook_size} exceeds u32"),
        });
    }

    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut nodes = vec![Node::Leaf { next_free: 0 }];
    let mut codes: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut max_depth = 0;
    // Breadth-first with an explicit queue: degenerate data can make the tree deep.
    let mut queue = VecDeque::from([(0usize, (0..n).collect::<Vec<usize>>(), Vec::<u32>::new())]);
    while let Some((node, docs, path)) = queue.pop_front() {
        if docs.len() <= leaf_size {
            for (pos, &d) in docs.iter().enumerate() {
                let mut c = Vec::with_capacity(path.len() + 1);
                c.extend_from_slice(&path);
                c.push(pos as u32);
                codes[d] = c;
            }
            max_depth = max_depth.max(path.len());
            nodes[node] = Node::Leaf {
                next_free: docs.len() as u32,
            };
            continue;
        }
        let fit = kmeans::fit(embeddings, dim, &docs, k, cfg.kmeans_iters, &mut rng);
        let (centroids, groups) = if fit.k(dim) >= 2 {
            let mut groups = vec![Vec::new(); fit.k(dim)];
            for (&d, &label) in docs.iter().zip(&fit.labels) {
                groups[label].push(d); // `docs` is ascending, so each group is too
            }
            (fit.centroids, groups)
        } else {
            // k-means did not reduce the largest group: chunk by position instead.
            let parts = k.min(docs.len());
            let (base, extra) = (docs.len() / parts, docs.len() % parts);
            let mut groups = Vec::with_capacity(parts);
            let mut start = 0;
            for p in 0..parts {
                let len = base + usize::from(p < extra);
                groups.push(docs[start..start + len].to_vec());
                start += len;
            }
            let centroids = groups
                .iter()
                .flat_map(|g| kmeans::mean(embeddings, dim, g))
                .collect();
            (centroids, groups)
        };
        let mut children = Vec::with_capacity(groups.len());
        for (code, group) in groups.into_iter().enumerate() {
            let child = nodes.len();
            nodes.push(Node::Leaf { next_free: 0 });
            children.push(child);
            let mut p = path.clone();
            p.push(code as u32);
            queue.push_back((child, group, p));
        }
        nodes[node] = Node::Internal {
            centroids,
            children,
        };
    }

    let docid_len = max_depth + 1;
    for c in &mut codes {
        c.resize(docid_len, 0); // see "Padding cannot collide" in the module docs
    }
    Ok(Assignment {
        codes,
        codebook_size,
        steps: docid_len,
        state: SchemeState::HKMeans(HKMeansState {
            dim,
            codebook_size,
            docid_len,
            nodes,
        }),
    })
}

impl HKMeansState {
    pub(crate) fn assign_new(&mut self, id: &str, embedding: Option<&[f32]>) -> Result<Vec<u32>> {
        let x = check_new_embedding("hkmeans", id, embedding, self.dim)?;
        let mut stack = vec![(0usize, Vec::<u32>::new())];
        let mut found = None;
        while let Some((node, path)) = stack.pop() {
            match &self.nodes[node] {
                Node::Leaf { next_free } => {
                    if (*next_free as usize) < self.codebook_size {
                        found = Some((node, path));
                        break;
                    }
                }
                Node::Internal {
                    centroids,
                    children,
                } => {
                    for &j in kmeans::ranked(centroids, self.dim, x).iter().rev() {
                        let mut p = path.clone();
                        p.push(j as u32);
                        stack.push((children[j], p));
                    }
                }
            }
        }
        let Some((node, mut path)) = found else {
            return Err(DocidError::NoFreeDocid {
                id: id.to_owned(),
                reason: format!(
                    "every leaf of the hierarchical k-means tree already holds K = {} documents",
                    self.codebook_size
                ),
            });
        };
        if let Node::Leaf { next_free } = &mut self.nodes[node] {
            path.push(*next_free);
            *next_free += 1;
        }
        path.resize(self.docid_len, 0);
        Ok(path)
    }

    pub(crate) fn docid_len(&self) -> usize {
        self.docid_len
    }

    pub(crate) fn codebook_size(&self) -> usize {
        self.codebook_size
    }

    /// Depth of the leaf that `docid` belongs to (its path length), following its codes
    /// from the root; `None` if it leaves the tree.
    #[cfg(test)]
    fn leaf_depth(&self, docid: &[u32]) -> Option<(usize, usize)> {
        let mut node = 0;
        for (depth, &code) in docid.iter().enumerate() {
            match &self.nodes[node] {
                Node::Leaf { .. } => return Some((node, depth)),
                Node::Internal { children, .. } => node = *children.get(code as usize)?,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests_support::clustered;
    use crate::SchemeKind;

    fn cfg(k: usize, leaf_size: usize) -> SchemeConfig {
        SchemeConfig {
            kind: SchemeKind::HKMeans,
            hkmeans_k: k,
            leaf_size,
            ..SchemeConfig::default()
        }
    }

    #[test]
    fn new_copy_of_a_document_reaches_its_leaf() {
        let (x, dim) = clustered(500, 8, 6, 3);
        let a = assign(&cfg(4, 20), &x, dim).unwrap();
        let SchemeState::HKMeans(mut st) = a.state.clone() else {
            panic!()
        };
        for d in [0, 17, 123, 333, 499] {
            let (leaf, depth) = st.leaf_depth(&a.codes[d]).unwrap();
            let new = st
                .assign_new("copy", Some(&x[d * dim..(d + 1) * dim]))
                .unwrap();
            assert_eq!(st.leaf_depth(&new).unwrap(), (leaf, depth), "doc {d}");
            assert_eq!(new[..depth], a.codes[d][..depth]);
        }
    }

    #[test]
    fn training_documents_are_nearest_to_their_own_centroid_at_every_level() {
        let (x, dim) = clustered(300, 8, 5, 9);
        let a = assign(&cfg(3, 10), &x, dim).unwrap();
        let SchemeState::HKMeans(st) = &a.state else {
            panic!()
        };
        for (d, docid) in a.codes.iter().enumerate() {
            let mut node = 0;
            for &code in docid {
                let Node::Internal {
                    centroids,
                    children,
                } = &st.nodes[node]
                else {
                    break;
                };
                let (j, _) = kmeans::nearest(centroids, dim, &x[d * dim..(d + 1) * dim]);
                assert_eq!(j, code as usize, "doc {d} is not at its nearest centroid");
                node = children[code as usize];
            }
        }
    }

    #[test]
    fn chunked_split_terminates_on_duplicates() {
        let x = vec![1.0f32; 1000 * 4];
        let a = assign(&cfg(3, 2), &x, 4).unwrap();
        let SchemeState::HKMeans(st) = &a.state else {
            panic!()
        };
        assert!(
            st.nodes
                .iter()
                .filter(|n| matches!(n, Node::Leaf { .. }))
                .count()
                >= 500
        );
        assert!(
            a.steps <= 9,
            "depth {} too large for 1000 docs in chunks of 3",
            a.steps
        );
    }

    #[test]
    fn corrupt_state_is_refused() {
        let json = r#"{"dim":2,"codebook_size":4,"docid_len":2,"nodes":[{"internal":{"centroids":[0.0,0.0],"children":[0]}}]}"#;
        let err = serde_json::from_str::<HKMeansState>(json)
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid child"), "{err}");
    }
}
