//! Constrained beam search over the docid trie: the retriever `P(z|q)` turned into a ranked list
//! of documents.
//!
//! # The idea
//!
//! The GenRet network generates a docid `z_1 .. z_M` one code at a time: step `t` scores the
//! `K` codes from the decoder state `d_t`. Free generation would mostly produce code sequences
//! that name no document, so every step is constrained to the children of the beam's node in
//! the [`DocidTrie`]: codes that lead to no document get probability 0 (their logits are set to
//! `-inf` before the softmax, so the probability mass is renormalised over the allowed codes).
//! A beam's score is its summed log-probability `Σ_t log P(z_t | z_<t, q)` under these
//! constrained distributions, which is exactly what teacher forcing the docid would give.
//!
//! There is NO end-of-sequence token: every beam runs exactly M steps. (The authors' code runs a
//! generic `generate()` with end id 1, so a docid with a non-final code 1 ends early and can
//! never be retrieved; here that cannot happen.)
//!
//! # Batching and the key/value cache
//!
//! B queries are searched at once. Step 0 runs the decoder on B rows; afterwards every query has
//! W rows (its beams; a query with fewer than W live beams pads with copies of its best beam,
//! which are ignored), B·W rows in all. Each step extends the decoder's key/value cache by one
//! position instead of re-running the prefix; when beams are pruned, the cached self-attention
//! keys and values are reordered to follow their parents. Cross-attention keys and values depend
//! only on the query, and a beam's parent is always a row of the same query, so they are
//! expanded once (B → B·W) and never copied again.
//!
//! # Determinism
//!
//! Candidates of a query are ranked by score (descending), ties broken by (parent beam, code)
//! ascending, so the result does not depend on sort internals; scores are summed in `f64` on the
//! host. At the end the beams, best first, expand to every document holding their docid in
//! ascending position (insertion order) until `depth` documents; each document's score is its
//! beam's log-probability.

use anyhow::{bail, ensure, Context, Result};
use genret_model::backbone::{Encoded, KvCache};
use genret_model::genret::GenRet;
use tch::{Device, Kind, Tensor};

use crate::trie::{DocidTrie, NodeId};

/// A complete docid found by the search, with its summed log-probability.
#[derive(Debug, Clone, PartialEq)]
pub struct DocidBeam {
    pub codes: Vec<u32>,
    /// The docid's trie node (its documents are `trie.docs(node)`).
    pub node: NodeId,
    /// The docid's score: its summed constrained log-probability, or, with
    /// [`CodeScore::Logit`], its summed raw step scores.
    pub log_prob: f64,
}

/// How a step's code scores add up into a docid's score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CodeScore {
    /// `Σ_t log P(z_t | z_<t, q)`, each step a softmax over the codes the trie allows: the
    /// paper's generative likelihood.
    #[default]
    LogProb,
    /// `Σ_t d_t · E_t[z_t] / temperature`: raw dot products, comparable across steps and
    /// queries (RIPOR's additive score; no per-step normalisation, so a confident step cannot
    /// hide behind a flat one).
    Logit,
    /// `Σ_t q · C_t[z_t]`: the query's encoder embedding against additive codebooks fitted to
    /// the docids (see [`crate::residual`]); every docid is scored, no beam and no decoder.
    Residual,
}

/// What a beam search computes besides the docids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeamOptions {
    /// Beam width W (clamped to the number of docids).
    pub beam: usize,
    /// Codes searched: the trie's depth, or fewer (a prefix search: each result is a prefix
    /// node whose documents are every document below it).
    pub depth: Option<usize>,
    pub code_score: CodeScore,
    /// Return each kept beam's query state: the decoder state after its whole prefix (when the
    /// model has a step after it), else the state that scored its last code. Documents are
    /// compared with it in the same position (see [`state_position`]).
    pub query_states: bool,
    /// Keep every step's kept prefixes and scores (diagnostics).
    pub trace: bool,
}

impl BeamOptions {
    pub fn new(beam: usize) -> Self {
        Self {
            beam,
            depth: None,
            code_score: CodeScore::LogProb,
            query_states: false,
            trace: false,
        }
    }
}

/// The kept prefixes and their scores after one step, best first.
pub type StepTrace = Vec<(Vec<u32>, f64)>;

/// One query's beam search.
#[derive(Debug)]
pub struct QueryBeams {
    /// The kept docids (or prefixes), best first.
    pub beams: Vec<DocidBeam>,
    /// `[beams, D]` with [`BeamOptions::query_states`].
    pub states: Option<Tensor>,
    /// With [`BeamOptions::trace`]: after every step, the kept prefixes and scores, best first.
    pub trace: Vec<StepTrace>,
}

/// The decoder position whose state represents a prefix of `depth` codes in a model of
/// `num_steps` steps: the state after the prefix, or the last one the model has.
pub fn state_position(depth: usize, num_steps: usize) -> usize {
    depth.min(num_steps.saturating_sub(1))
}

#[derive(Debug, Clone)]
struct Partial {
    codes: Vec<u32>,
    node: NodeId,
    score: f64,
}

/// One candidate extension of a query's beam.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    parent: usize,
    code: u32,
    node: NodeId,
    score: f64,
}

fn check(model: &GenRet, trie: &DocidTrie, beam: usize) -> Result<()> {
    ensure!(beam >= 1, "beam width must be at least 1");
    ensure!(
        trie.depth() <= model.num_steps() as usize,
        "the index's docids have {} codes, the model generates at most {}",
        trie.depth(),
        model.num_steps()
    );
    if let Some(max) = trie.max_code() {
        ensure!(
            (max as i64) < model.codebook_size(),
            "the index holds code {max}, the model has only {} codes per step",
            model.codebook_size()
        );
    }
    Ok(())
}

/// The `beam` best docids of each encoded query, best first (ties: lower parent beam, then
/// lower code, at the step where they parted). Runs under `no_grad`.
pub fn search_docids(
    model: &GenRet,
    trie: &DocidTrie,
    encoded: &Encoded,
    beam: usize,
) -> Result<Vec<Vec<DocidBeam>>> {
    Ok(beam_search(model, trie, encoded, &BeamOptions::new(beam))?
        .into_iter()
        .map(|q| q.beams)
        .collect())
}

/// Constrained beam search with every option: see [`BeamOptions`].
pub fn beam_search(
    model: &GenRet,
    trie: &DocidTrie,
    encoded: &Encoded,
    opts: &BeamOptions,
) -> Result<Vec<QueryBeams>> {
    check(model, trie, opts.beam)?;
    ensure!(
        opts.code_score != CodeScore::Residual,
        "residual code scores score every docid at once; there is no beam to search"
    );
    let depth = opts.depth.unwrap_or(trie.depth());
    ensure!(
        depth >= 1 && depth <= trie.depth(),
        "search depth {depth} is outside 1..={}",
        trie.depth()
    );
    let b = encoded.batch_size() as usize;
    if b == 0 || trie.num_docids() == 0 {
        return Ok((0..b)
            .map(|_| QueryBeams {
                beams: Vec::new(),
                states: None,
                trace: Vec::new(),
            })
            .collect());
    }
    let w = opts.beam.min(trie.num_nodes_at(depth).max(1));
    tch::no_grad(|| search_inner(model, trie, encoded, w, depth, opts))
}

fn search_inner(
    model: &GenRet,
    trie: &DocidTrie,
    encoded: &Encoded,
    w: usize,
    m: usize,
    opts: &BeamOptions,
) -> Result<Vec<QueryBeams>> {
    let b = encoded.batch_size() as usize;
    let k = model.codebook_size();
    let mut traces: Vec<Vec<StepTrace>> = vec![Vec::new(); b];
    // Rows (of the last decoder call) whose state each kept beam's query state is.
    let mut final_rows: Vec<i64> = Vec::new();
    let device = model.device();
    let mut beams: Vec<Vec<Partial>> = (0..b)
        .map(|_| {
            vec![Partial {
                codes: Vec::with_capacity(m),
                node: trie.root(),
                score: 0.0,
            }]
        })
        .collect();
    let (mut cache, mut states) = model.begin_decoding(encoded);
    let mut encoded = encoded.shallow_clone();
    // Rows of query q are q * rows_per_query .. (q + 1) * rows_per_query.
    let mut rows_per_query = 1usize;

    for step in 0..m {
        let rows = b * rows_per_query;
        // Allowed (row, code) pairs, grouped by query, then beam, then code ascending.
        let mut candidates: Vec<Vec<Candidate>> = Vec::with_capacity(b);
        let mut allowed: Vec<i64> = Vec::new();
        let mut padding_rows: Vec<i64> = Vec::new();
        for (q, query_beams) in beams.iter().enumerate() {
            let mut cands = Vec::new();
            for (i, beam) in query_beams.iter().enumerate() {
                let row = (q * rows_per_query + i) as i64;
                for &(code, node) in trie.children(beam.node) {
                    allowed.push(row * k + i64::from(code));
                    cands.push(Candidate {
                        parent: i,
                        code,
                        node,
                        score: beam.score,
                    });
                }
            }
            padding_rows.extend(
                (query_beams.len()..rows_per_query).map(|i| (q * rows_per_query + i) as i64),
            );
            candidates.push(cands);
        }
        // The mask is built on the model's device from the allowed positions: 0 where allowed,
        // -inf elsewhere. Padding rows allow every code so their softmax stays finite; they
        // are never read.
        let allowed = Tensor::from_slice(&allowed).to_device(device);
        let mut mask = Tensor::full([rows as i64 * k], f64::NEG_INFINITY, (Kind::Float, device));
        let _ = mask.index_fill_(0, &allowed, 0.0);
        let mut mask = mask.view([rows as i64, k]);
        if !padding_rows.is_empty() {
            let _ = mask.index_fill_(0, &Tensor::from_slice(&padding_rows).to_device(device), 0.0);
        }
        let masked = model.step_logits(step, &states).to_kind(Kind::Float) + mask;
        let log_probs = match opts.code_score {
            CodeScore::LogProb => masked.log_softmax(-1, Kind::Float),
            // Residual scores were refused above.
            CodeScore::Logit | CodeScore::Residual => masked,
        };
        let picked = log_probs
            .view([-1])
            .index_select(0, &allowed)
            .to_device(Device::Cpu);
        let picked = Vec::<f32>::try_from(&picked).context("reading log-probabilities")?;

        // Keep the best W candidates of every query.
        let mut offset = 0;
        let mut next_beams = Vec::with_capacity(b);
        let mut parent_rows: Vec<i64> = Vec::with_capacity(b * w);
        let mut next_codes: Vec<i64> = Vec::with_capacity(b * w);
        for (q, mut cands) in candidates.into_iter().enumerate() {
            for c in cands.iter_mut() {
                c.score += f64::from(picked[offset]);
                offset += 1;
            }
            if cands.is_empty() {
                // Impossible in a trie whose docids all have depth M: every prefix continues.
                bail!("internal error: query {q} has no beam to extend at step {step}");
            }
            // Score descending, then (parent, code) ascending: a total order, so the kept
            // beams do not depend on the selection algorithm.
            let order = |x: &Candidate, y: &Candidate| {
                y.score
                    .total_cmp(&x.score)
                    .then(x.parent.cmp(&y.parent))
                    .then(x.code.cmp(&y.code))
            };
            if cands.len() > w {
                cands.select_nth_unstable_by(w - 1, order);
                cands.truncate(w);
            }
            cands.sort_unstable_by(order);
            let old = &beams[q];
            let kept: Vec<Partial> = cands
                .iter()
                .map(|c| {
                    let mut codes = old[c.parent].codes.clone();
                    codes.push(c.code);
                    Partial {
                        codes,
                        node: c.node,
                        score: c.score,
                    }
                })
                .collect();
            for i in 0..w {
                let c = cands.get(i).unwrap_or(&cands[0]);
                parent_rows.push((q * rows_per_query + c.parent) as i64);
                next_codes.push(i64::from(c.code));
            }
            if opts.trace {
                traces[q].push(kept.iter().map(|p| (p.codes.clone(), p.score)).collect());
            }
            next_beams.push(kept);
        }
        beams = next_beams;
        // Advance the decoder by the kept codes: before every step but the last, and after the
        // last too when each beam's state after its whole prefix is asked for (and exists).
        let last = step + 1 == m;
        let state_after_prefix = last && opts.query_states && m < model.num_steps() as usize;
        if !last || state_after_prefix {
            let index = Tensor::from_slice(&parent_rows).to_device(device);
            if step == 0 {
                // B rows -> B·W rows: the cross-attention cache and the encoder states too.
                cache.select_rows(&index);
                encoded = encoded.select_rows(&index);
            } else {
                reorder_self_attention(&mut cache, &index);
            }
            rows_per_query = w;
            let codes = Tensor::from_slice(&next_codes).to_device(device);
            states = model.continue_decoding(&encoded, &mut cache, step, &codes);
        }
        if last && opts.query_states {
            // Each kept beam's row: its own (advanced), or its parent's, whose state scored
            // the last code.
            final_rows = if state_after_prefix {
                (0..(b * w) as i64).collect()
            } else {
                parent_rows.clone()
            };
        }
    }
    let rows_out = if opts.query_states {
        Some(states.index_select(0, &Tensor::from_slice(&final_rows).to_device(device)))
    } else {
        None
    };
    Ok(beams
        .into_iter()
        .zip(traces)
        .enumerate()
        .map(|(q, (qb, trace))| {
            let n = qb.len() as i64;
            QueryBeams {
                states: rows_out.as_ref().map(|r| r.narrow(0, (q * w) as i64, n)),
                beams: qb
                    .into_iter()
                    .map(|p| DocidBeam {
                        codes: p.codes,
                        node: p.node,
                        log_prob: p.score,
                    })
                    .collect(),
                trace,
            }
        })
        .collect())
}

/// Reorders only the self-attention part of the cache. Valid when every new row's parent is a
/// row of the same query: the cross-attention rows of one query are identical.
fn reorder_self_attention(cache: &mut KvCache, index: &Tensor) {
    for layer in &mut cache.layers {
        if let Some((k, v)) = &layer.self_kv {
            layer.self_kv = Some((k.index_select(0, index), v.index_select(0, index)));
        }
    }
}

/// The documents of a kept beam: its docid's, or every one below its prefix (ascending
/// position).
pub fn beam_docs<'t>(trie: &'t DocidTrie, beam: &DocidBeam) -> std::borrow::Cow<'t, [u64]> {
    if beam.codes.len() == trie.depth() {
        std::borrow::Cow::Borrowed(trie.docs(beam.node))
    } else {
        std::borrow::Cow::Owned(trie.docs_below(beam.node))
    }
}

/// Expands beams (best first) to documents: every document of each docid (or below each
/// prefix) in ascending position, until `depth` documents. Each document's score is its beam's.
pub fn expand(trie: &DocidTrie, beams: &[DocidBeam], depth: usize) -> Vec<(u64, f32)> {
    let mut out = Vec::with_capacity(depth.min(beams.len() * 2));
    for beam in beams {
        for &pos in beam_docs(trie, beam).iter() {
            if out.len() == depth {
                return out;
            }
            out.push((pos, beam.log_prob as f32));
        }
    }
    out
}

/// Constrained beam search for each encoded query: up to `depth` `(position, score)` pairs,
/// best first.
pub fn search(
    model: &GenRet,
    trie: &DocidTrie,
    encoded: &Encoded,
    beam: usize,
    depth: usize,
) -> Result<Vec<Vec<(u64, f32)>>> {
    let beams = search_docids(model, trie, encoded, beam)?;
    Ok(beams.iter().map(|b| expand(trie, b, depth)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_model(k: i64, m: i64, seed: i64) -> (tch::nn::VarStore, GenRet) {
        crate::testing::tiny_model(k, m, seed).unwrap()
    }

    /// Queries as token ids, padded with 0 (the tiny BERT's pad id).
    fn encode_queries(model: &GenRet, queries: &[Vec<i64>]) -> Encoded {
        let len = queries.iter().map(Vec::len).max().unwrap();
        let mut ids = Vec::new();
        let mut mask = Vec::new();
        for q in queries {
            ids.extend(
                q.iter()
                    .copied()
                    .chain(std::iter::repeat_n(0, len - q.len())),
            );
            mask.extend(
                std::iter::repeat_n(1i64, q.len()).chain(std::iter::repeat_n(0, len - q.len())),
            );
        }
        let shape = [queries.len() as i64, len as i64];
        model.encode(
            &Tensor::from_slice(&ids).view(shape),
            &Tensor::from_slice(&mask).view(shape),
            false,
        )
    }

    /// Reference: the constrained log-probability of each docid by teacher forcing (all
    /// positions at once, no cache), for query row `row` of `encoded`.
    fn teacher_forced(
        model: &GenRet,
        trie: &DocidTrie,
        encoded: &Encoded,
        row: i64,
        docids: &[Vec<u32>],
    ) -> Vec<f64> {
        tch::no_grad(|| {
            let n = docids.len() as i64;
            let m = trie.depth();
            let enc = encoded.select_rows(&Tensor::from_slice(&vec![row; n as usize]));
            let prefix: Vec<i64> = docids
                .iter()
                .flat_map(|z| z[..m - 1].iter().map(|&c| i64::from(c)))
                .collect();
            let states = model.decode_states(
                &enc,
                &Tensor::from_slice(&prefix).view([n, m as i64 - 1]),
                false,
            );
            let k = model.codebook_size();
            let mut out = vec![0.0; docids.len()];
            for t in 0..m {
                let logits = model.step_logits(t, &states.select(1, t as i64));
                for (i, z) in docids.iter().enumerate() {
                    let node = trie.lookup(&z[..t]).unwrap();
                    let mut mask = vec![f32::NEG_INFINITY; k as usize];
                    for &(c, _) in trie.children(node) {
                        mask[c as usize] = 0.0;
                    }
                    let lp = (logits.get(i as i64) + Tensor::from_slice(&mask))
                        .log_softmax(-1, Kind::Float);
                    out[i] += lp.double_value(&[i64::from(z[t])]);
                }
            }
            out
        })
    }

    fn random_docids(n: usize, k: u32, m: usize, seed: u64) -> Vec<Vec<u32>> {
        // A small LCG: deterministic, no extra dependency.
        let mut s = seed;
        let mut next = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) % u64::from(k)) as u32
        };
        (0..n).map(|_| (0..m).map(|_| next()).collect()).collect()
    }

    fn queries() -> Vec<Vec<i64>> {
        vec![
            vec![2, 17, 5, 9, 3],
            vec![2, 40, 41, 3],
            vec![2, 8, 8, 8, 8, 12, 3],
        ]
    }

    #[test]
    fn exhaustive_beam_search_ranks_docids_by_their_teacher_forced_log_probability() {
        let (k, m) = (5i64, 3usize);
        let (_vs, model) = tiny_model(k, m as i64, 11);
        let docids = random_docids(40, k as u32, m, 3);
        let trie = DocidTrie::build(
            m,
            docids
                .iter()
                .enumerate()
                .map(|(p, z)| (z.clone(), p as u64)),
        )
        .unwrap();
        let distinct: Vec<Vec<u32>> = {
            let mut d = docids.clone();
            d.sort();
            d.dedup();
            d
        };
        let enc = encode_queries(&model, &queries());
        let full_beam = (k as usize).pow(m as u32);
        let found = search_docids(&model, &trie, &enc, full_beam).unwrap();
        for (q, beams) in found.iter().enumerate() {
            let reference = teacher_forced(&model, &trie, &enc, q as i64, &distinct);
            let mut want: Vec<(Vec<u32>, f64)> = distinct.iter().cloned().zip(reference).collect();
            want.sort_by(|a, b| b.1.total_cmp(&a.1));
            assert_eq!(
                beams.len(),
                distinct.len(),
                "query {q}: every docid is a beam"
            );
            for (got, (codes, lp)) in beams.iter().zip(&want) {
                assert_eq!(&got.codes, codes, "query {q}: ranking differs");
                assert!(
                    (got.log_prob - lp).abs() < 1e-4,
                    "query {q} {codes:?}: {} vs {lp}",
                    got.log_prob
                );
            }
            // Constrained distributions: probabilities over all docids sum to 1.
            let total: f64 = beams.iter().map(|b| b.log_prob.exp()).sum();
            assert!((total - 1.0).abs() < 1e-4, "query {q}: {total}");
        }
    }

    #[test]
    fn narrow_beams_return_only_existing_docids_with_exact_scores() {
        let (k, m) = (8i64, 3usize);
        let (_vs, model) = tiny_model(k, m as i64, 5);
        let docids = random_docids(30, k as u32, m, 9);
        let trie = DocidTrie::build(
            m,
            docids
                .iter()
                .enumerate()
                .map(|(p, z)| (z.clone(), p as u64)),
        )
        .unwrap();
        let enc = encode_queries(&model, &queries());
        for w in [1, 3, 7] {
            let found = search_docids(&model, &trie, &enc, w).unwrap();
            for (q, beams) in found.iter().enumerate() {
                assert_eq!(beams.len(), w, "query {q}, beam {w}");
                let codes: Vec<Vec<u32>> = beams.iter().map(|b| b.codes.clone()).collect();
                let reference = teacher_forced(&model, &trie, &enc, q as i64, &codes);
                for (b, lp) in beams.iter().zip(reference) {
                    assert!(
                        docids.contains(&b.codes),
                        "{:?} is not in the index",
                        b.codes
                    );
                    assert_eq!(trie.lookup(&b.codes), Some(b.node));
                    assert!((b.log_prob - lp).abs() < 1e-4);
                }
                assert!(
                    beams.windows(2).all(|p| p[0].log_prob >= p[1].log_prob),
                    "best first"
                );
                let mut uniq = codes.clone();
                uniq.dedup();
                assert_eq!(uniq.len(), codes.len(), "no docid twice");
            }
        }
    }

    #[test]
    fn logit_scores_sum_the_raw_step_scores_and_prefix_searches_stop_early() {
        let (k, m) = (5i64, 3usize);
        let (_vs, model) = tiny_model(k, m as i64, 11);
        let docids = random_docids(40, k as u32, m, 3);
        let trie = DocidTrie::build(
            m,
            docids
                .iter()
                .enumerate()
                .map(|(p, z)| (z.clone(), p as u64)),
        )
        .unwrap();
        let enc = encode_queries(&model, &queries());
        let opts = BeamOptions {
            beam: 200,
            code_score: CodeScore::Logit,
            ..BeamOptions::new(200)
        };
        let found = beam_search(&model, &trie, &enc, &opts).unwrap();
        for (q, qb) in found.iter().enumerate() {
            assert_eq!(qb.beams.len(), trie.num_docids(), "exhaustive");
            // Reference: teacher-forced raw logits, summed.
            let z = &qb.beams[0].codes;
            let sel = enc.select_rows(&Tensor::from_slice(&[q as i64]));
            let prefix: Vec<i64> = z[..m - 1].iter().map(|&c| i64::from(c)).collect();
            let states = model.decode_states(
                &sel,
                &Tensor::from_slice(&prefix).view([1, m as i64 - 1]),
                false,
            );
            let want: f64 = (0..m)
                .map(|t| {
                    model
                        .step_logits(t, &states.select(1, t as i64))
                        .double_value(&[0, i64::from(z[t])])
                })
                .sum();
            assert!(
                (qb.beams[0].log_prob - want).abs() < 1e-4,
                "query {q}: {} vs {want}",
                qb.beams[0].log_prob
            );
            assert!(qb.beams.windows(2).all(|w| w[0].log_prob >= w[1].log_prob));
        }
        // A prefix search of depth 2 returns prefixes; their documents are all below them.
        let opts = BeamOptions {
            depth: Some(2),
            query_states: true,
            trace: true,
            ..BeamOptions::new(3)
        };
        let found = beam_search(&model, &trie, &enc, &opts).unwrap();
        for qb in &found {
            assert_eq!(qb.beams.len(), 3);
            assert!(qb.beams.iter().all(|b| b.codes.len() == 2));
            assert_eq!(qb.trace.len(), 2, "one kept list per step");
            assert_eq!(
                qb.trace[1]
                    .iter()
                    .map(|(c, _)| c.clone())
                    .collect::<Vec<_>>(),
                qb.beams.iter().map(|b| b.codes.clone()).collect::<Vec<_>>()
            );
            assert_eq!(
                qb.states.as_ref().unwrap().size(),
                vec![3, 32],
                "a state per kept prefix"
            );
            let docs = expand(&trie, &qb.beams[..1], 100);
            let below = trie.docs_below(qb.beams[0].node);
            assert_eq!(docs.iter().map(|d| d.0).collect::<Vec<_>>(), below);
            assert!(below
                .iter()
                .all(|&p| docids[p as usize][..2] == qb.beams[0].codes[..]));
        }
    }

    #[test]
    fn code_one_is_an_ordinary_code() {
        // The authors' generate() treats code 1 as end-of-sequence: docids with 1 before the
        // last position could never be retrieved. Here they all come back.
        let (_vs, model) = tiny_model(4, 3, 2);
        let docids = [
            vec![1, 1, 0],
            vec![1, 1, 1],
            vec![1, 2, 3],
            vec![0, 1, 2],
            vec![3, 1, 1],
            vec![2, 0, 0],
        ];
        let trie = DocidTrie::build(
            3,
            docids
                .iter()
                .enumerate()
                .map(|(p, z)| (z.clone(), p as u64)),
        )
        .unwrap();
        let enc = encode_queries(&model, &queries());
        for results in search(&model, &trie, &enc, docids.len(), 100).unwrap() {
            let mut got: Vec<u64> = results.iter().map(|&(p, _)| p).collect();
            got.sort();
            assert_eq!(got, (0..docids.len() as u64).collect::<Vec<_>>());
        }
        // And a beam of 1 can pick a docid starting with 1 when it is the only one.
        let trie = DocidTrie::build(3, [(vec![1u32, 1, 1], 0u64)]).unwrap();
        let results = search(&model, &trie, &enc, 1, 10).unwrap();
        assert!(
            results
                .iter()
                .all(|r| r.len() == 1 && r[0].0 == 0 && r[0].1.abs() < 1e-6),
            "{results:?}"
        );
    }

    #[test]
    fn batched_search_equals_one_query_at_a_time() {
        let (k, m) = (6i64, 3usize);
        let (_vs, model) = tiny_model(k, m as i64, 21);
        let docids = random_docids(50, k as u32, m, 17);
        let trie = DocidTrie::build(
            m,
            docids
                .iter()
                .enumerate()
                .map(|(p, z)| (z.clone(), p as u64)),
        )
        .unwrap();
        let qs = queries();
        let batched = search(&model, &trie, &encode_queries(&model, &qs), 5, 8).unwrap();
        for (q, query) in qs.iter().enumerate() {
            let alone = search(
                &model,
                &trie,
                &encode_queries(&model, std::slice::from_ref(query)),
                5,
                8,
            )
            .unwrap();
            let (a, b) = (&alone[0], &batched[q]);
            assert_eq!(
                a.iter().map(|x| x.0).collect::<Vec<_>>(),
                b.iter().map(|x| x.0).collect::<Vec<_>>(),
                "query {q}"
            );
            assert!(
                a.iter().zip(b).all(|(x, y)| (x.1 - y.1).abs() < 1e-4),
                "query {q}"
            );
        }
    }

    #[test]
    fn collision_groups_expand_in_position_order_and_depth_cuts() {
        let (_vs, model) = tiny_model(4, 2, 4);
        // docid [2, 3] is shared by positions 1, 4, 6 (inserted out of order).
        let items: Vec<(Vec<u32>, u64)> = vec![
            (vec![2, 3], 6),
            (vec![0, 0], 0),
            (vec![2, 3], 1),
            (vec![1, 2], 2),
            (vec![2, 3], 4),
            (vec![3, 3], 3),
            (vec![1, 0], 5),
        ];
        let trie = DocidTrie::build(2, items).unwrap();
        let enc = encode_queries(&model, &queries()[..1]);
        let beams = search_docids(&model, &trie, &enc, 16).unwrap().remove(0);
        assert_eq!(beams.len(), 5);
        let all = expand(&trie, &beams, 100);
        assert_eq!(all.len(), 7);
        let group: Vec<usize> = (0..all.len())
            .filter(|&i| [1, 4, 6].contains(&all[i].0))
            .collect();
        assert_eq!(group.len(), 3);
        assert_eq!(group[2] - group[0], 2, "a group is contiguous");
        assert_eq!(
            group.iter().map(|&i| all[i].0).collect::<Vec<_>>(),
            vec![1, 4, 6],
            "ascending position"
        );
        assert!(
            group.iter().all(|&i| all[i].1 == all[group[0]].1),
            "one score per docid"
        );
        assert!(all.windows(2).all(|p| p[0].1 >= p[1].1));

        // Depth limits cut anywhere, even inside a group.
        for depth in 0..=8 {
            let cut = expand(&trie, &beams, depth);
            assert_eq!(cut.len(), depth.min(7));
            assert_eq!(cut[..], all[..depth.min(7)]);
        }
        let via_search = search(&model, &trie, &enc, 16, group[1] + 1)
            .unwrap()
            .remove(0);
        assert_eq!(via_search.last().unwrap().0, 4);
        // A beam narrower than the result depth returns at most the beams' documents.
        let greedy = search_docids(&model, &trie, &enc, 1).unwrap().remove(0);
        let narrow = search(&model, &trie, &enc, 1, 100).unwrap().remove(0);
        assert_eq!(
            narrow.iter().map(|x| x.0).collect::<Vec<_>>(),
            trie.docs(greedy[0].node)
        );
    }

    #[test]
    fn empty_index_and_bad_arguments() {
        let (_vs, model) = tiny_model(4, 2, 1);
        let enc = encode_queries(&model, &queries());
        let empty = DocidTrie::new(2).unwrap();
        assert_eq!(
            search(&model, &empty, &enc, 4, 10).unwrap(),
            vec![Vec::new(); 3]
        );
        let trie = DocidTrie::build(2, [(vec![0u32, 1], 0u64)]).unwrap();
        assert!(search(&model, &trie, &enc, 0, 10)
            .unwrap_err()
            .to_string()
            .contains("beam width"));
        let too_deep = DocidTrie::build(3, [(vec![0u32, 1, 2], 0u64)]).unwrap();
        assert!(search(&model, &too_deep, &enc, 2, 10)
            .unwrap_err()
            .to_string()
            .contains("at most 2"));
        let big_code = DocidTrie::build(2, [(vec![0u32, 4], 0u64)]).unwrap();
        assert!(search(&model, &big_code, &enc, 2, 10)
            .unwrap_err()
            .to_string()
            .contains("code 4"));
    }
}
