//! Text analysis: from a string to the terms that are indexed and searched.
//!
//! BEIR's BM25 numbers come from Elasticsearch with the built-in `english` analyzer, which is
//! this Lucene chain:
//!
//! 1. `standard` tokenizer: Unicode word boundaries (UAX #29), keeping only words that hold a
//!    letter or a digit; `3.5`, `don't` and `U.S.A` stay one token, `IL-6` is two.
//! 2. `english_possessive_stemmer`: drops a trailing `'s` (also with `’` or `＇`).
//! 3. `lowercase`.
//! 4. `english_stop`: Lucene's 33 English stop words (`a`, `an`, `and`, ... `with`).
//! 5. `porter_stem`: Martin Porter's original algorithm (not Snowball's "Porter2" `english`).
//!
//! [`AnalyzerOptions::elasticsearch_english`] (the default) reproduces that chain:
//! UAX #29 segmentation comes from `unicode-segmentation`, the stop list is tantivy's (itself
//! Lucene's), and the stemmer is the Snowball implementation of the original Porter algorithm from
//! `frostem`, the stemmer crate tantivy itself depends on. The other options exist to measure
//! how much each step matters (see `docs/benchmarks.md`): tantivy's own `SimpleTokenizer`
//! (split on anything that is not alphanumeric), Snowball `english` (Porter2), no stemming, no
//! stop words, no lower-casing.
//!
//! One [`Analyzer`] serves both sides: it is registered as the tantivy tokenizer of the indexed
//! fields, and [`Analyzer::analyze`] turns a query into the same terms, so a query never goes
//! through a query-language parser and no input can be a syntax error.

use serde::{Deserialize, Serialize};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use unicode_segmentation::UnicodeSegmentation;

/// Lucene's `EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`, sorted for binary search; the list
/// Elasticsearch's `_english_` stop words and tantivy's `StopWordFilter::new(English)` use.
pub const LUCENE_ENGLISH_STOP_WORDS: [&str; 33] = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// Longest token kept, in characters (Lucene's `StandardTokenizer` default maximum). Longer
/// "words" (base64 blobs, sequences) are dropped; tantivy itself refuses terms over 65,530 bytes.
pub const MAX_TOKEN_CHARS: usize = 255;

/// How text is split into words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenizerKind {
    /// Unicode word boundaries (UAX #29), like Lucene's `StandardTokenizer`.
    Unicode,
    /// tantivy's `SimpleTokenizer`: maximal runs of alphanumeric characters.
    Simple,
}

/// Which stemmer, if any, reduces words to stems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StemmerKind {
    /// No stemming.
    None,
    /// The original Porter (1980) algorithm, as Lucene's `PorterStemFilter` and so
    /// Elasticsearch's `english` analyzer apply it.
    Porter,
    /// Snowball `english` ("Porter2"), what tantivy's `Stemmer::new(Language::English)` applies.
    SnowballEnglish,
}

/// Which words are dropped before indexing and searching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopWords {
    /// Keep every word.
    None,
    /// [`LUCENE_ENGLISH_STOP_WORDS`].
    LuceneEnglish,
}

/// The analysis chain; persisted with an index so searching analyses queries the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalyzerOptions {
    pub tokenizer: TokenizerKind,
    /// Drop a trailing `'s` (before lower-casing), as Elasticsearch's `english` analyzer does.
    pub possessive: bool,
    pub lowercase: bool,
    pub stop_words: StopWords,
    pub stemmer: StemmerKind,
}

impl AnalyzerOptions {
    /// Elasticsearch's built-in `english` analyzer, the one BEIR's BM25 baseline indexes with.
    pub const fn elasticsearch_english() -> Self {
        AnalyzerOptions {
            tokenizer: TokenizerKind::Unicode,
            possessive: true,
            lowercase: true,
            stop_words: StopWords::LuceneEnglish,
            stemmer: StemmerKind::Porter,
        }
    }

    /// tantivy's usual English chain: `SimpleTokenizer`, `LowerCaser`, English stop words,
    /// `Stemmer::new(Language::English)` (Snowball Porter2).
    pub const fn tantivy_english() -> Self {
        AnalyzerOptions {
            tokenizer: TokenizerKind::Simple,
            possessive: false,
            lowercase: true,
            stop_words: StopWords::LuceneEnglish,
            stemmer: StemmerKind::SnowballEnglish,
        }
    }
}

impl Default for AnalyzerOptions {
    fn default() -> Self {
        Self::elasticsearch_english()
    }
}

/// The analysis chain as a value: cheap to clone, shareable across threads, and usable as a
/// tantivy [`Tokenizer`].
#[derive(Clone)]
pub struct Analyzer {
    options: AnalyzerOptions,
    stemmer: Option<frostem::Stemmer>,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("options", &self.options)
            .finish()
    }
}

impl Analyzer {
    pub fn new(options: AnalyzerOptions) -> Self {
        let stemmer = match options.stemmer {
            StemmerKind::None => None,
            StemmerKind::Porter => Some(frostem::Stemmer::new(frostem::Algorithm::Porter)),
            StemmerKind::SnowballEnglish => {
                Some(frostem::Stemmer::new(frostem::Algorithm::English))
            }
        };
        Analyzer { options, stemmer }
    }

    pub fn options(&self) -> &AnalyzerOptions {
        &self.options
    }

    /// The terms of `text`, in order, duplicates kept.
    pub fn analyze(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.for_each_term(text, |_, _, term| out.push(term));
        out
    }

    /// Calls `emit(byte_from, byte_to, term)` for each term of `text`.
    fn for_each_term(&self, text: &str, mut emit: impl FnMut(usize, usize, String)) {
        let mut handle = |from: usize, word: &str| self.process_word(from, word, &mut emit);
        match self.options.tokenizer {
            TokenizerKind::Unicode => {
                for (from, word) in text.unicode_word_indices() {
                    handle(from, word);
                }
            }
            TokenizerKind::Simple => {
                let mut start: Option<usize> = None;
                for (i, c) in text.char_indices() {
                    match (c.is_alphanumeric(), start) {
                        (true, None) => start = Some(i),
                        (false, Some(s)) => {
                            handle(s, &text[s..i]);
                            start = None;
                        }
                        _ => {}
                    }
                }
                if let Some(s) = start {
                    handle(s, &text[s..]);
                }
            }
        }
    }

    fn process_word(&self, from: usize, word: &str, emit: &mut impl FnMut(usize, usize, String)) {
        let to = from + word.len();
        let mut w = word;
        if self.options.possessive {
            w = strip_possessive(w);
        }
        if w.is_empty() || w.chars().count() > MAX_TOKEN_CHARS {
            return;
        }
        let lowered;
        if self.options.lowercase {
            lowered = w.to_lowercase();
            w = &lowered;
        }
        if self.options.stop_words == StopWords::LuceneEnglish
            && LUCENE_ENGLISH_STOP_WORDS.binary_search(&w).is_ok()
        {
            return;
        }
        let term = match &self.stemmer {
            Some(stemmer) => stemmer.stem(w).into_owned(),
            None => w.to_string(),
        };
        if !term.is_empty() {
            emit(from, to, term);
        }
    }
}

/// Lucene's `EnglishPossessiveFilter`: removes a final `'s`/`'S` where the apostrophe is U+0027,
/// U+2019 or U+FF07.
fn strip_possessive(word: &str) -> &str {
    let Some(rest) = word.strip_suffix(['s', 'S']) else {
        return word;
    };
    rest.strip_suffix(['\'', '\u{2019}', '\u{FF07}'])
        .unwrap_or(word)
}

/// The terms of one text, handed to tantivy's indexer.
pub struct AnalyzerTokenStream {
    tokens: Vec<Token>,
    /// Index of the current token plus one; 0 before the first `advance`.
    cursor: usize,
    empty: Token,
}

impl TokenStream for AnalyzerTokenStream {
    fn advance(&mut self) -> bool {
        if self.cursor < self.tokens.len() {
            self.cursor += 1;
            true
        } else {
            false
        }
    }
    fn token(&self) -> &Token {
        self.cursor
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .unwrap_or(&self.empty)
    }
    fn token_mut(&mut self) -> &mut Token {
        match self.cursor.checked_sub(1) {
            Some(i) if i < self.tokens.len() => &mut self.tokens[i],
            _ => &mut self.empty,
        }
    }
}

impl Tokenizer for Analyzer {
    type TokenStream<'a> = AnalyzerTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> AnalyzerTokenStream {
        let mut tokens = Vec::new();
        self.for_each_term(text, |offset_from, offset_to, term| {
            let position = tokens.len();
            tokens.push(Token {
                offset_from,
                offset_to,
                position,
                text: term,
                position_length: 1,
            });
        });
        AnalyzerTokenStream {
            tokens,
            cursor: 0,
            empty: Token::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted() {
        assert!(LUCENE_ENGLISH_STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn elasticsearch_english_chain() {
        let a = Analyzer::new(AnalyzerOptions::elasticsearch_english());
        assert_eq!(
            a.analyze("The patient's IL-6 levels were RISING in 3.5% of cases; don't panic."),
            ["patient", "il", "6", "level", "were", "rise", "3.5", "case", "don't", "panic"]
        );
        // Porter (1980) vs Snowball Porter2 differ on words like these.
        assert_eq!(a.analyze("generalization"), ["gener"]);
        let porter2 = Analyzer::new(AnalyzerOptions {
            stemmer: StemmerKind::SnowballEnglish,
            ..Default::default()
        });
        assert_eq!(porter2.analyze("generalization"), ["general"]);
    }

    #[test]
    fn simple_tokenizer_splits_on_punctuation() {
        let a = Analyzer::new(AnalyzerOptions::tantivy_english());
        assert_eq!(
            a.analyze("don't 3.5 IL-6"),
            ["don", "t", "3", "5", "il", "6"]
        );
    }

    #[test]
    fn possessive() {
        assert_eq!(strip_possessive("cell's"), "cell");
        assert_eq!(strip_possessive("CELL’S"), "CELL");
        assert_eq!(strip_possessive("cells"), "cells");
        assert_eq!(strip_possessive("'s"), "");
    }

    #[test]
    fn token_stream_positions_and_offsets() {
        let mut a = Analyzer::new(AnalyzerOptions::default());
        let mut s = a.token_stream("Running the tests");
        assert_eq!(s.token().text, "");
        let mut got = Vec::new();
        while let Some(t) = s.next() {
            got.push((t.text.clone(), t.position, t.offset_from, t.offset_to));
        }
        assert_eq!(
            got,
            [
                ("run".to_string(), 0, 0, 7),
                ("test".to_string(), 1, 12, 17)
            ]
        );
    }
}
