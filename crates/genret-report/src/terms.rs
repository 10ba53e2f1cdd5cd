//! The most distinctive terms of a group of documents, by tf-idf against the whole corpus: the
//! report's stand-in for the GenRet paper's word clouds per docid prefix.
//!
//! Text is split into lowercase alphanumeric words; words of one character, words without a
//! letter (numbers) and English stop words are dropped. No stemming: the terms are shown to a
//! person, who reads `cells` and `cell` fine.
//!
//! A group's score for a term `t` treats the group as the unit being described:
//!
//! ```text
//! score(t, G) = Σ_{d ∈ G, tf(t,d) > 0} (1 + ln tf(t,d))  ×  ln(N / df(t))
//! ```
//!
//! with `N` the number of documents in the corpus and `df(t)` the number containing `t`. The
//! sublinear term frequency, summed over the group's documents, rewards a term that many of the
//! group's documents use over one that a single document repeats; the idf removes words every
//! document uses (a term in all documents scores 0 and is never shown).

use std::collections::HashMap;

/// English stop words (the classic SMART/Lucene-style list, plus words that carry no topic in
/// abstracts).
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "either",
    "et",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "however",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "may",
    "me",
    "might",
    "more",
    "most",
    "much",
    "must",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "thus",
    "to",
    "too",
    "under",
    "until",
    "up",
    "upon",
    "us",
    "very",
    "via",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "whether",
    "which",
    "while",
    "who",
    "whom",
    "whose",
    "why",
    "will",
    "with",
    "within",
    "without",
    "would",
    "yet",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// Whether `word` (lowercase) is an English stop word.
pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

/// The words of `text` that can describe a topic: lowercase, alphanumeric runs of two or more
/// characters with at least one letter, stop words removed.
pub fn tokenize(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 2 && w.chars().any(char::is_alphabetic))
        .map(str::to_lowercase)
        .filter(|w| !is_stop_word(w))
}

/// Term counts of every document of a corpus, and each term's document frequency.
#[derive(Debug, Clone, Default)]
pub struct TermIndex {
    vocabulary: Vec<String>,
    /// Per document: (term id, count), sorted by term id.
    doc_terms: Vec<Vec<(u32, u32)>>,
    /// Per term id: the number of documents containing it.
    document_frequency: Vec<u32>,
}

/// A term and its score in a group.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredTerm {
    pub term: String,
    pub score: f64,
}

impl TermIndex {
    /// Tokenises every document once; document `i` of the iterator is document `i` of the
    /// index.
    pub fn build<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut index = TermIndex::default();
        for text in texts {
            let mut counts: HashMap<u32, u32> = HashMap::new();
            for word in tokenize(text) {
                let next = ids.len() as u32;
                let id = *ids.entry(word).or_insert_with_key(|w| {
                    index.vocabulary.push(w.clone());
                    index.document_frequency.push(0);
                    next
                });
                *counts.entry(id).or_default() += 1;
            }
            let mut terms: Vec<(u32, u32)> = counts.into_iter().collect();
            terms.sort_unstable();
            for &(id, _) in &terms {
                index.document_frequency[id as usize] += 1;
            }
            index.doc_terms.push(terms);
        }
        index
    }

    pub fn num_docs(&self) -> usize {
        self.doc_terms.len()
    }

    /// The `n` highest-scoring terms of the documents `group` (indices into the corpus), best
    /// first; ties go to the alphabetically first term so the output is stable. Terms scoring 0
    /// (in every document) are never returned.
    pub fn distinctive_terms(&self, group: &[usize], n: usize) -> Vec<ScoredTerm> {
        let mut scores: HashMap<u32, f64> = HashMap::new();
        for &doc in group {
            let Some(terms) = self.doc_terms.get(doc) else {
                continue;
            };
            for &(id, tf) in terms {
                *scores.entry(id).or_default() += 1.0 + f64::from(tf).ln();
            }
        }
        let n_docs = self.num_docs() as f64;
        let mut scored: Vec<ScoredTerm> = scores
            .into_iter()
            .map(|(id, tf)| {
                let idf = (n_docs / f64::from(self.document_frequency[id as usize])).ln();
                ScoredTerm {
                    term: self.vocabulary[id as usize].clone(),
                    score: tf * idf,
                }
            })
            .filter(|t| t.score > 0.0)
            .collect();
        scored.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.term.cmp(&b.term))
        });
        scored.truncate(n);
        scored
    }

    /// How well document `doc` represents a group described by `terms`: the summed scores of
    /// the terms it contains. Picks the titles shown for a group.
    pub fn coverage(&self, doc: usize, terms: &[ScoredTerm]) -> f64 {
        self.doc_terms.get(doc).map_or(0.0, |doc_terms| {
            doc_terms
                .iter()
                .filter_map(|&(id, _)| {
                    let word = &self.vocabulary[id as usize];
                    terms.iter().find(|t| &t.term == word).map(|t| t.score)
                })
                .sum()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(is_stop_word("the") && is_stop_word("which") && !is_stop_word("cell"));
    }

    #[test]
    fn tokens_are_lowercase_words_without_numbers_or_stop_words() {
        let words: Vec<String> =
            tokenize("The T-cell count (n=42) rose in 2019; IL-6 rose.").collect();
        assert_eq!(words, ["cell", "count", "rose", "il", "rose"]);
    }

    /// Two topics of three documents each; `data` is in every document and repeated most.
    fn corpus() -> Vec<&'static str> {
        vec![
            "cat whiskers data data data data",
            "cat purr data data data",
            "cat kitten purr data data",
            "rocket fuel data data data data",
            "rocket orbit data data",
            "rocket launch orbit data data data",
        ]
    }

    #[test]
    fn distinctive_terms_follow_the_groups() {
        let index = TermIndex::build(corpus());
        let cats = index.distinctive_terms(&[0, 1, 2], 3);
        let rockets = index.distinctive_terms(&[3, 4, 5], 3);
        let names = |t: &[ScoredTerm]| t.iter().map(|t| t.term.clone()).collect::<Vec<_>>();
        // `data` is in every document: idf 0, never shown, though raw counts rank it first.
        // `purr` (2 of the group's documents, nowhere else) beats `cat` (all 3 of them, but
        // that is half the corpus): 2 ln 3 > 3 ln 2.
        assert_eq!(names(&cats), ["purr", "cat", "kitten"]);
        assert_eq!(names(&rockets), ["orbit", "rocket", "fuel"]);
        let ln = f64::ln;
        assert!((cats[0].score - 2.0 * ln(3.0)).abs() < 1e-12, "{cats:?}");
        assert!((cats[1].score - 3.0 * ln(2.0)).abs() < 1e-12, "{cats:?}");
        // kitten: 1 document, df 1 -> ln 6; ties with whiskers, alphabetical first.
        assert!((cats[2].score - ln(6.0)).abs() < 1e-12, "{cats:?}");
    }

    #[test]
    fn repeated_terms_count_sublinearly() {
        // In a one-document group every term has the same idf (df 1); the repeated one leads,
        // by 1 + ln 3, not by 3.
        let index = TermIndex::build(["alpha beta beta beta", "gamma", "delta"]);
        let t = index.distinctive_terms(&[0], 2);
        assert_eq!(t[0].term, "beta");
        assert!((t[0].score - (1.0 + 3f64.ln()) * 3f64.ln()).abs() < 1e-12);
        assert!((t[1].score - 3f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn the_whole_corpus_has_no_distinctive_term() {
        let index = TermIndex::build(["same words", "same words"]);
        assert!(index.distinctive_terms(&[0, 1], 5).is_empty());
    }
}
