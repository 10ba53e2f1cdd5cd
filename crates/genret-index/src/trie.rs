//! The prefix trie of the docids in an index.
//!
//! # Why a trie
//!
//! A GenRet retriever generates a docid one code at a time, and most of the `K^M` code
//! sequences name no document. Constrained beam search (see [`crate::search`]) asks, at every
//! step and for every beam, "which codes continue this prefix towards some document?": the
//! children of the beam's trie node. At the last level, a node is a full docid and holds the
//! documents that share it (a collision group), in ascending position, so a docid always
//! expands to its documents in the same, stable order: the order they entered the index.
//!
//! # Layout
//!
//! Nodes live in one arena (`Vec`), addressed by [`NodeId`]; the root is node 0. Each node keeps
//! its children as a vector of `(code, child)` sorted by code (a lookup is a binary search, and
//! the beam search reads the allowed codes in increasing order without sorting), and leaves keep
//! their document positions sorted. Every docid of a trie has the same length, its
//! [`DocidTrie::depth`] (M); there is no end-of-sequence code, so a prefix is never a docid.
//!
//! The trie is not stored: [`crate::index::Index::open`] rebuilds it from the document store,
//! which is the index's single source of truth.
//!
//! ```
//! use genret_index::trie::DocidTrie;
//!
//! let trie = DocidTrie::build(2, [(vec![3, 1], 0), (vec![3, 0], 1), (vec![3, 1], 2)]).unwrap();
//! let n3 = trie.child(trie.root(), 3).unwrap();
//! assert_eq!(trie.children(n3).iter().map(|&(c, _)| c).collect::<Vec<_>>(), vec![0, 1]);
//! assert_eq!(trie.docs(trie.child(n3, 1).unwrap()), &[0, 2]);
//! assert_eq!(trie.num_docids(), 2);
//! ```

use crate::error::{IndexError, Result};

/// Index of a node in the trie's arena.
pub type NodeId = u32;

#[derive(Debug, Clone, Default)]
struct Node {
    /// `(code, child)`, sorted by code.
    children: Vec<(u32, NodeId)>,
    /// Document positions, ascending; only at depth M.
    docs: Vec<u64>,
}

/// Prefix trie over fixed-length docids; leaves hold document positions.
#[derive(Debug, Clone)]
pub struct DocidTrie {
    nodes: Vec<Node>,
    depth: usize,
    num_docids: usize,
    num_docs: usize,
    largest_group: usize,
    /// Nodes at each depth 0..=M (the root is the one node at depth 0).
    nodes_at: Vec<usize>,
}

impl DocidTrie {
    /// An empty trie for docids of `depth` codes (M >= 1).
    pub fn new(depth: usize) -> Result<Self> {
        if depth == 0 {
            return Err(IndexError::DocidLength {
                pos: 0,
                expected: 1,
                found: 0,
            });
        }
        Ok(Self {
            nodes: vec![Node::default()],
            depth,
            num_docids: 0,
            num_docs: 0,
            largest_group: 0,
            nodes_at: std::iter::once(1)
                .chain(std::iter::repeat_n(0, depth))
                .collect(),
        })
    }

    /// A trie of `(docid, position)` pairs; every docid must have `depth` codes.
    pub fn build<C: AsRef<[u32]>>(
        depth: usize,
        items: impl IntoIterator<Item = (C, u64)>,
    ) -> Result<Self> {
        let mut trie = Self::new(depth)?;
        for (codes, pos) in items {
            trie.insert(codes.as_ref(), pos)?;
        }
        Ok(trie)
    }

    /// The root: the empty prefix.
    pub fn root(&self) -> NodeId {
        0
    }

    /// The node of `node`'s prefix followed by `code`, if some docid continues that way.
    pub fn child(&self, node: NodeId, code: u32) -> Option<NodeId> {
        let children = &self.nodes[node as usize].children;
        children
            .binary_search_by_key(&code, |&(c, _)| c)
            .ok()
            .map(|i| children[i].1)
    }

    /// The codes that continue `node`'s prefix, with their nodes, in increasing code order.
    pub fn children(&self, node: NodeId) -> &[(u32, NodeId)] {
        &self.nodes[node as usize].children
    }

    /// Positions of the documents holding `node`'s docid, ascending (empty above depth M).
    pub fn docs(&self, node: NodeId) -> &[u64] {
        &self.nodes[node as usize].docs
    }

    /// The node of a prefix (or full docid), if it exists.
    pub fn lookup(&self, codes: &[u32]) -> Option<NodeId> {
        codes
            .iter()
            .try_fold(self.root(), |node, &c| self.child(node, c))
    }

    /// Adds the document at `pos` under docid `codes`; returns true when the docid is new.
    /// Positions are kept sorted within a docid, whatever the order of insertion.
    pub fn insert(&mut self, codes: &[u32], pos: u64) -> Result<bool> {
        if codes.len() != self.depth {
            return Err(IndexError::DocidLength {
                pos,
                expected: self.depth,
                found: codes.len(),
            });
        }
        let mut node = 0usize;
        for (level, &code) in codes.iter().enumerate() {
            let children = &self.nodes[node].children;
            node = match children.binary_search_by_key(&code, |&(c, _)| c) {
                Ok(i) => children[i].1 as usize,
                Err(i) => {
                    let id = self.nodes.len();
                    self.nodes[node].children.insert(i, (code, id as NodeId));
                    self.nodes.push(Node::default());
                    self.nodes_at[level + 1] += 1;
                    id
                }
            };
        }
        let docs = &mut self.nodes[node].docs;
        match docs.last() {
            Some(&last) if last >= pos => match docs.binary_search(&pos) {
                Ok(_) => return Err(IndexError::DuplicatePosition { pos }),
                Err(i) => docs.insert(i, pos),
            },
            _ => docs.push(pos),
        }
        let is_new = docs.len() == 1;
        self.largest_group = self.largest_group.max(docs.len());
        self.num_docs += 1;
        self.num_docids += usize::from(is_new);
        Ok(is_new)
    }

    /// Positions of every document whose docid starts with `node`'s prefix, ascending.
    pub fn docs_below(&self, node: NodeId) -> Vec<u64> {
        let mut out = Vec::new();
        let mut stack = vec![node];
        while let Some(n) = stack.pop() {
            let n = &self.nodes[n as usize];
            out.extend_from_slice(&n.docs);
            stack.extend(n.children.iter().map(|&(_, c)| c));
        }
        out.sort_unstable();
        out
    }

    /// Number of distinct prefixes of `depth` codes (`depth` = M: distinct docids).
    pub fn num_nodes_at(&self, depth: usize) -> usize {
        self.nodes_at.get(depth).copied().unwrap_or(0)
    }

    /// M: the number of codes of every docid.
    pub fn depth(&self) -> usize {
        self.depth
    }
    /// Number of distinct docids.
    pub fn num_docids(&self) -> usize {
        self.num_docids
    }
    /// Number of documents.
    pub fn num_docs(&self) -> usize {
        self.num_docs
    }
    /// Number of nodes, root included.
    pub fn num_nodes(&self) -> usize {
        self.nodes.len()
    }
    /// Size of the largest group of documents sharing one docid (0 when empty).
    pub fn largest_group(&self) -> usize {
        self.largest_group
    }
    /// Number of documents whose docid is shared with another document.
    pub fn colliding_docs(&self) -> usize {
        self.nodes
            .iter()
            .map(|n| if n.docs.len() > 1 { n.docs.len() } else { 0 })
            .sum()
    }
    /// The largest code anywhere in the trie.
    pub fn max_code(&self) -> Option<u32> {
        self.nodes
            .iter()
            .filter_map(|n| n.children.last().map(|&(c, _)| c))
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_count_and_collect_the_documents_below_them() {
        let trie = DocidTrie::build(
            3,
            [
                (vec![1u32, 2, 3], 5),
                (vec![1, 2, 0], 1),
                (vec![1, 0, 0], 3),
                (vec![2, 2, 2], 0),
                (vec![1, 2, 3], 2),
            ],
        )
        .unwrap();
        assert_eq!(
            (0..=3).map(|d| trie.num_nodes_at(d)).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        assert_eq!(trie.num_nodes_at(3), trie.num_docids());
        assert_eq!(
            trie.docs_below(trie.lookup(&[1]).unwrap()),
            vec![1, 2, 3, 5]
        );
        assert_eq!(
            trie.docs_below(trie.lookup(&[1, 2]).unwrap()),
            vec![1, 2, 5]
        );
        assert_eq!(trie.docs_below(trie.root()), vec![0, 1, 2, 3, 5]);
        assert_eq!(
            trie.docs_below(trie.lookup(&[1, 2, 3]).unwrap()),
            trie.docs(trie.lookup(&[1, 2, 3]).unwrap())
        );
    }

    #[test]
    fn leaves_keep_positions_in_ascending_order() {
        let mut trie = DocidTrie::new(3).unwrap();
        assert!(trie.insert(&[1, 2, 3], 7).unwrap());
        assert!(!trie.insert(&[1, 2, 3], 2).unwrap());
        assert!(!trie.insert(&[1, 2, 3], 5).unwrap());
        assert!(trie.insert(&[1, 2, 0], 1).unwrap());
        let leaf = trie.lookup(&[1, 2, 3]).unwrap();
        assert_eq!(trie.docs(leaf), &[2, 5, 7]);
        assert_eq!(
            (
                trie.num_docids(),
                trie.num_docs(),
                trie.largest_group(),
                trie.colliding_docs()
            ),
            (2, 4, 3, 3)
        );
        assert!(matches!(
            trie.insert(&[1, 2, 3], 5),
            Err(IndexError::DuplicatePosition { pos: 5 })
        ));
        assert_eq!(trie.num_docs(), 4);
    }

    #[test]
    fn children_are_sorted_and_missing_prefixes_are_none() {
        let trie = DocidTrie::build(
            2,
            [
                (vec![5, 1], 0),
                (vec![0, 9], 1),
                (vec![5, 0], 2),
                (vec![2, 2], 3),
            ],
        )
        .unwrap();
        let codes: Vec<u32> = trie.children(trie.root()).iter().map(|&(c, _)| c).collect();
        assert_eq!(codes, vec![0, 2, 5]);
        assert_eq!(trie.child(trie.root(), 1), None);
        assert_eq!(trie.child(trie.root(), 6), None);
        assert_eq!(trie.lookup(&[5, 7]), None);
        assert_eq!(trie.lookup(&[5]).map(|n| trie.children(n).len()), Some(2));
        assert!(
            trie.docs(trie.lookup(&[5]).unwrap()).is_empty(),
            "a prefix holds no document"
        );
        assert_eq!(trie.docs(trie.lookup(&[0, 9]).unwrap()), &[1]);
        assert_eq!(trie.max_code(), Some(9));
        assert_eq!(trie.num_nodes(), 1 + 3 + 4);
    }

    #[test]
    fn docids_of_another_length_are_rejected() {
        let mut trie = DocidTrie::new(3).unwrap();
        trie.insert(&[0, 0, 0], 0).unwrap();
        let err = trie.insert(&[0, 0], 1).unwrap_err();
        assert!(
            matches!(
                err,
                IndexError::DocidLength {
                    pos: 1,
                    expected: 3,
                    found: 2
                }
            ),
            "{err}"
        );
        assert!(trie.insert(&[0, 0, 0, 0], 2).is_err());
        let err = DocidTrie::build(2, [(vec![1, 1], 0), (vec![1], 1)]).unwrap_err();
        assert!(
            err.to_string()
                .contains("has 1 codes, the index's docids have 2"),
            "{err}"
        );
        assert!(DocidTrie::new(0).is_err());
        // Nothing of the refused docids went in.
        assert_eq!((trie.num_docs(), trie.num_nodes()), (1, 4));
    }
}
