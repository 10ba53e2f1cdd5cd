//! The docid hierarchy: documents grouped by docid prefix, level by level, each group described
//! by its size, its most distinctive terms and a few representative titles. This is the GenRet
//! paper's qualitative analysis (word clouds per prefix) made browsable.
//!
//! A full tree has as many leaves as documents, far too much for one page, so the tree is cut:
//! the first `full_levels` levels are shown whole; below them a group is shown only if it holds
//! at least `min_group_size` documents, at most `max_children` per parent (largest first), and
//! nodes are admitted breadth first, largest groups first, until `max_nodes`. What is cut is
//! counted on its parent ("+ 40 smaller groups, 61 documents"), so no document silently
//! disappears.

use std::collections::{BTreeMap, HashMap};

use genret_data::Document;

use crate::docids::{format_codes, DocidEntry};
use crate::terms::{ScoredTerm, TermIndex};

/// How much of the tree the page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeLimits {
    /// Levels shown whole (1: every first code).
    pub full_levels: usize,
    /// Below the full levels, the least documents a group needs to be shown.
    pub min_group_size: usize,
    /// Below the full levels, the most children shown per group.
    pub max_children: usize,
    /// The most groups on the page.
    pub max_nodes: usize,
    /// Terms shown per group.
    pub terms: usize,
    /// Titles shown per group.
    pub titles: usize,
}

impl TreeLimits {
    /// Limits for a corpus of `n_docs` documents: groups of 1% of the corpus, between 2 and 8
    /// documents, are worth a look below the first level. SciFact (5,183 documents, K = 64)
    /// gives about 300 groups, some 200 KB of HTML.
    pub fn for_corpus(n_docs: usize) -> Self {
        TreeLimits {
            full_levels: 1,
            min_group_size: (n_docs / 100).clamp(2, 8),
            max_children: 8,
            max_nodes: 500,
            terms: 8,
            titles: 3,
        }
    }
}

/// A group of documents sharing a docid prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct PrefixNode {
    pub prefix: Vec<u32>,
    /// Documents in the group (all of them, shown or not).
    pub size: usize,
    pub terms: Vec<ScoredTerm>,
    pub titles: Vec<String>,
    pub children: Vec<PrefixNode>,
    /// Child groups cut by the limits, and the documents in them.
    pub hidden_groups: usize,
    pub hidden_docs: usize,
}

impl PrefixNode {
    /// `26-49`, or `(all)` for the root.
    pub fn label(&self) -> String {
        if self.prefix.is_empty() {
            "(all)".into()
        } else {
            format_codes(&self.prefix)
        }
    }

    /// Groups in the tree, the root included.
    pub fn count(&self) -> usize {
        1 + self.children.iter().map(PrefixNode::count).sum::<usize>()
    }
}

/// Documents with their text indexed for terms, addressed by id.
pub struct DocumentIndex<'a> {
    documents: &'a [Document],
    by_id: HashMap<&'a str, usize>,
    terms: TermIndex,
}

impl<'a> DocumentIndex<'a> {
    /// Indexes title and text of every document.
    pub fn new(documents: &'a [Document]) -> Self {
        let texts: Vec<String> = documents.iter().map(Document::full_text).collect();
        DocumentIndex {
            documents,
            by_id: documents
                .iter()
                .enumerate()
                .map(|(i, d)| (d.id.as_str(), i))
                .collect(),
            terms: TermIndex::build(texts.iter().map(String::as_str)),
        }
    }

    pub fn position(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub fn document(&self, id: &str) -> Option<&'a Document> {
        self.position(id).map(|i| &self.documents[i])
    }

    /// The title of a document, or the start of its text when it has none.
    pub fn title(&self, id: &str) -> Option<String> {
        self.document(id).map(|d| {
            let t = d.title.trim();
            if t.is_empty() {
                shorten(d.text.trim(), 90)
            } else {
                shorten(t, 140)
            }
        })
    }

    pub fn terms(&self) -> &TermIndex {
        &self.terms
    }
}

/// `text` cut at a character boundary near `max` characters, with an ellipsis.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{}…", cut.trim_end())
}

struct ArenaNode {
    prefix: Vec<u32>,
    /// Indices into the docids.
    members: Vec<usize>,
    children: Vec<usize>,
    hidden_groups: usize,
    hidden_docs: usize,
}

/// Builds the cut tree of `docids`; with `documents`, each shown group gets its terms and
/// titles.
pub fn build_tree(
    docids: &[DocidEntry],
    documents: Option<&DocumentIndex>,
    limits: &TreeLimits,
) -> PrefixNode {
    let mut arena = vec![ArenaNode {
        prefix: Vec::new(),
        members: (0..docids.len()).collect(),
        children: Vec::new(),
        hidden_groups: 0,
        hidden_docs: 0,
    }];
    let depth = docids.iter().map(|d| d.codes.len()).max().unwrap_or(0);
    let mut level = vec![0usize];
    for l in 0..depth {
        // Candidate children of every node of this level, largest groups first across the
        // level, so the node budget goes to the biggest groups.
        let mut candidates: Vec<(usize, Vec<u32>, Vec<usize>)> = Vec::new();
        for &parent in &level {
            let mut groups: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
            for &m in &arena[parent].members {
                groups.entry(docids[m].codes[l]).or_default().push(m);
            }
            let mut groups: Vec<(u32, Vec<usize>)> = groups.into_iter().collect();
            groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
            let whole = l < limits.full_levels;
            for (rank, (code, members)) in groups.into_iter().enumerate() {
                let shown =
                    whole || (members.len() >= limits.min_group_size && rank < limits.max_children);
                if shown {
                    let mut prefix = arena[parent].prefix.clone();
                    prefix.push(code);
                    candidates.push((parent, prefix, members));
                } else {
                    arena[parent].hidden_groups += 1;
                    arena[parent].hidden_docs += members.len();
                }
            }
        }
        candidates.sort_by_key(|c| std::cmp::Reverse(c.2.len()));
        let mut next = Vec::new();
        for (parent, prefix, members) in candidates {
            if arena.len() >= limits.max_nodes {
                arena[parent].hidden_groups += 1;
                arena[parent].hidden_docs += members.len();
                continue;
            }
            let id = arena.len();
            arena.push(ArenaNode {
                prefix,
                members,
                children: Vec::new(),
                hidden_groups: 0,
                hidden_docs: 0,
            });
            arena[parent].children.push(id);
            next.push(id);
        }
        if next.is_empty() {
            break;
        }
        level = next;
    }
    finish(&arena, 0, docids, documents, limits)
}

/// The owned node `id` of the arena, children sorted by prefix, described.
fn finish(
    arena: &[ArenaNode],
    id: usize,
    docids: &[DocidEntry],
    documents: Option<&DocumentIndex>,
    limits: &TreeLimits,
) -> PrefixNode {
    let node = &arena[id];
    let mut children: Vec<PrefixNode> = node
        .children
        .iter()
        .map(|&c| finish(arena, c, docids, documents, limits))
        .collect();
    children.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    let (terms, titles) = match documents {
        // The root is the whole corpus: no term is distinctive of it.
        Some(index) if !node.prefix.is_empty() => describe(node, docids, index, limits),
        _ => (Vec::new(), Vec::new()),
    };
    PrefixNode {
        prefix: node.prefix.clone(),
        size: node.members.len(),
        terms,
        titles,
        children,
        hidden_groups: node.hidden_groups,
        hidden_docs: node.hidden_docs,
    }
}

/// A group's distinctive terms, and the titles of the documents that use them most.
fn describe(
    node: &ArenaNode,
    docids: &[DocidEntry],
    index: &DocumentIndex,
    limits: &TreeLimits,
) -> (Vec<ScoredTerm>, Vec<String>) {
    let positions: Vec<usize> = node
        .members
        .iter()
        .filter_map(|&m| index.position(&docids[m].doc_id))
        .collect();
    let terms = index.terms().distinctive_terms(&positions, limits.terms);
    let mut ranked: Vec<(f64, usize)> = node
        .members
        .iter()
        .enumerate()
        .filter_map(|(order, &m)| {
            let pos = index.position(&docids[m].doc_id)?;
            Some((index.terms().coverage(pos, &terms), order))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let titles = ranked
        .iter()
        .take(limits.titles)
        .filter_map(|&(_, order)| index.title(&docids[node.members[order]].doc_id))
        .collect();
    (terms, titles)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str, title: &str, text: &str) -> Document {
        Document {
            id: id.into(),
            title: title.into(),
            text: text.into(),
        }
    }

    fn entry(id: &str, codes: &[u32]) -> DocidEntry {
        DocidEntry {
            doc_id: id.into(),
            codes: codes.to_vec(),
        }
    }

    fn limits() -> TreeLimits {
        TreeLimits {
            full_levels: 1,
            min_group_size: 2,
            max_children: 8,
            max_nodes: 100,
            terms: 2,
            titles: 1,
        }
    }

    #[test]
    fn groups_get_their_own_terms_and_titles() {
        let docs = vec![
            doc("c1", "Cat", "cat purr study"),
            doc("c2", "Cat kitten", "cat study"),
            doc("c3", "Cat whiskers", "cat purr study"),
            doc("r1", "Rocket", "rocket orbit study"),
            doc("r2", "Rocket launch", "rocket orbit study"),
            doc("r3", "Rocket fuel", "rocket study"),
        ];
        let docids = vec![
            entry("c1", &[0, 0]),
            entry("c2", &[0, 1]),
            entry("c3", &[0, 0]),
            entry("r1", &[1, 0]),
            entry("r2", &[1, 0]),
            entry("r3", &[1, 1]),
        ];
        let index = DocumentIndex::new(&docs);
        let tree = build_tree(&docids, Some(&index), &limits());
        assert_eq!(tree.size, 6);
        assert!(
            tree.terms.is_empty(),
            "the whole corpus has no distinctive terms"
        );
        let [cats, rockets] = &tree.children[..] else {
            panic!("{tree:#?}")
        };
        assert_eq!((cats.label(), cats.size), ("0".to_string(), 3));
        let names = |n: &PrefixNode| n.terms.iter().map(|t| t.term.clone()).collect::<Vec<_>>();
        assert_eq!(names(cats), ["cat", "purr"]);
        assert_eq!(names(rockets), ["rocket", "orbit"]);
        // The title of the document using the group's terms most (c2 lacks `purr`).
        assert_eq!(cats.titles, ["Cat"]);
        assert_eq!(rockets.titles, ["Rocket"]);
        // Below level 1 only groups of 2 or more: 0-0 and 1-0; 0-1 and 1-1 are cut and
        // counted.
        assert_eq!(cats.children.len(), 1);
        assert_eq!(cats.children[0].label(), "0-0");
        assert_eq!(rockets.children[0].label(), "1-0");
        assert_eq!((cats.hidden_groups, cats.hidden_docs), (1, 1));
        assert_eq!((rockets.hidden_groups, rockets.hidden_docs), (1, 1));
        assert_eq!(tree.count(), 5);
    }

    #[test]
    fn the_node_budget_goes_to_the_largest_groups() {
        // 3 first-level groups of sizes 4, 2, 1; budget: root + 2 groups.
        let codes = [[0, 0], [0, 0], [0, 1], [0, 1], [1, 0], [1, 0], [2, 0]];
        let docids: Vec<DocidEntry> = codes
            .iter()
            .enumerate()
            .map(|(i, c)| entry(&format!("d{i}"), c))
            .collect();
        let tree = build_tree(
            &docids,
            None,
            &TreeLimits {
                max_nodes: 3,
                ..limits()
            },
        );
        let shown: Vec<(String, usize)> =
            tree.children.iter().map(|c| (c.label(), c.size)).collect();
        assert_eq!(shown, [("0".to_string(), 4), ("1".to_string(), 2)]);
        assert_eq!((tree.hidden_groups, tree.hidden_docs), (1, 1));
        assert_eq!(tree.count(), 3);
        assert!(tree.children[0].terms.is_empty(), "no documents, no terms");
    }

    #[test]
    fn long_titles_are_shortened_at_characters() {
        assert_eq!(shorten("αβγδε", 3), "αβγ…");
        assert_eq!(shorten("short", 10), "short");
    }
}
