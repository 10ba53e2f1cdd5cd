//! The training log (`metrics.jsonl`) turned into what the report draws: one curve per loss
//! term and one for the learning rate, over a single batch axis that runs through every unit of
//! the plan, with the progressive steps' boundaries marked; and the docid health logged after
//! each step.
//!
//! The batch axis: each `batch` event names its unit (`{"unit": "main", "step": 1, "epoch": 0}`)
//! and its position `batch` of `batches` in it. A unit's batches start where the previous
//! unit's ended, so the x of an event is the sum of the earlier units' `batches` plus its
//! `batch`. Units without batches (codebook initialisation, assignment) take no room.

use std::path::Path;

use genret_records::{DocidHealth, TrainEvent};
use serde_json::Value;

use crate::error::ReportError;

/// The events of one `metrics.jsonl`, with what the typed schema does not (yet) read.
#[derive(Debug, Clone, Default)]
pub struct TrainingLog {
    pub events: Vec<TrainEvent>,
    /// From the `reassigned` event: the share of documents keeping their first 1..M codes when
    /// the final tokenizer re-assigned them. The trainer writes one share per prefix length
    /// (a list); `genret_records::TrainEvent::Reassigned` reads a single number, so this reader
    /// takes either.
    pub kept_prefix_share: Option<Vec<f64>>,
    /// Lines whose `event` this reader does not know (written by a newer trainer): skipped.
    pub unknown_events: usize,
}

/// Event names of `genret_records::TrainEvent`, which a line must parse as when it names one.
const KNOWN_EVENTS: [&str; 9] = [
    "batch",
    "epoch",
    "unit_done",
    "codebook_init",
    "health",
    "reassigned",
    "reassignment_dropped",
    "disambiguation_overflow",
    "resumed",
];

/// Reads a training log; a line that is not JSON, or that names a known event but does not
/// have its fields, is an error naming the line.
pub fn read_training_log(path: &Path) -> Result<TrainingLog, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?;
    let mut log = TrainingLog::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| ReportError::line(path, i + 1, message);
        let value: Value = serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
        let event = value
            .get("event")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no `event` field".into()))?
            .to_string();
        if !KNOWN_EVENTS.contains(&event.as_str()) {
            log.unknown_events += 1;
            continue;
        }
        if event == "reassigned" {
            let shares = match value.get("kept_prefix_share") {
                Some(Value::Array(items)) => items.iter().map(Value::as_f64).collect(),
                Some(v) => v.as_f64().map(|s| vec![s]),
                None => None,
            };
            log.kept_prefix_share = Some(shares.ok_or_else(|| {
                bad("`kept_prefix_share` is neither a number nor a list of numbers".into())
            })?);
            continue;
        }
        let parsed: TrainEvent =
            serde_json::from_value(value).map_err(|e| bad(format!("`{event}` event: {e}")))?;
        log.events.push(parsed);
    }
    Ok(log)
}

/// One named curve, split where the quantity is absent (a loss term that is off in a unit) so
/// the plot does not join points across the gap.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    pub name: String,
    pub segments: Vec<Vec<(f64, f64)>>,
}

impl Curve {
    fn new(name: &str) -> Self {
        Curve {
            name: name.to_string(),
            segments: Vec::new(),
        }
    }

    /// Adds a point (`Some`) or breaks the line (`None`).
    fn push(&mut self, x: f64, y: Option<f64>) {
        match y.filter(|y| y.is_finite()) {
            Some(y) => match self.segments.last_mut() {
                Some(segment) if !segment.is_empty() => segment.push((x, y)),
                _ => self.segments.push(vec![(x, y)]),
            },
            None => {
                if self.segments.last().is_some_and(|s| !s.is_empty()) {
                    self.segments.push(Vec::new());
                }
            }
        }
    }

    fn finish(mut self) -> Option<Self> {
        self.segments.retain(|s| !s.is_empty());
        (!self.segments.is_empty()).then_some(self)
    }

    pub fn points(&self) -> impl Iterator<Item = &(f64, f64)> {
        self.segments.iter().flatten()
    }
}

/// Where a new progressive step (or the final, step-less unit) begins on the batch axis.
#[derive(Debug, Clone, PartialEq)]
pub struct StepBoundary {
    pub x: f64,
    /// `step 2` (1-based, as the trainer's messages count) or the unit's name (`final`).
    pub label: String,
}

/// The training curves of one run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrainingCurves {
    /// The total loss, then each weighted term that was on at some point.
    pub losses: Vec<Curve>,
    pub learning_rate: Option<Curve>,
    pub boundaries: Vec<StepBoundary>,
    /// Length of the batch axis.
    pub total_batches: f64,
}

/// The curves of the batch events, on one batch axis, with a boundary wherever the step changes.
pub fn training_curves(events: &[TrainEvent]) -> TrainingCurves {
    let mut total = Curve::new("total loss");
    let mut terms = [
        Curve::new("ranking"),
        Curve::new("generation"),
        Curve::new("prefix"),
        Curve::new("reconstruction"),
        Curve::new("distill"),
    ];
    let mut lr = Curve::new("learning rate");
    let mut boundaries = Vec::new();

    // The unit being read, its offset on the axis and its length.
    let mut current_unit: Option<&Value> = None;
    let mut offset = 0.0;
    let mut unit_len = 0.0;
    // What the previous unit's step was (None: no unit yet), to mark changes.
    let mut previous_step: Option<Option<u64>> = None;
    for event in events {
        let TrainEvent::Batch {
            unit,
            batch,
            batches,
            loss,
            terms: t,
            lr: rate,
            ..
        } = event
        else {
            continue;
        };
        if current_unit != Some(unit) {
            offset += unit_len;
            current_unit = Some(unit);
            let step = unit.get("step").and_then(Value::as_u64);
            if previous_step.is_some_and(|p| p != step) {
                let label = match step {
                    Some(s) => format!("step {}", s + 1),
                    None => unit
                        .get("unit")
                        .and_then(Value::as_str)
                        .unwrap_or("next unit")
                        .to_string(),
                };
                boundaries.push(StepBoundary { x: offset, label });
            }
            previous_step = Some(step);
        }
        unit_len = *batches as f64;
        let x = offset + *batch as f64;
        total.push(x, Some(*loss));
        let values = [
            t.ranking,
            t.generation,
            t.prefix,
            t.reconstruction,
            t.distill,
        ];
        for (curve, value) in terms.iter_mut().zip(values) {
            curve.push(x, value);
        }
        lr.push(x, Some(*rate));
    }
    TrainingCurves {
        losses: std::iter::once(total)
            .chain(terms)
            .filter_map(Curve::finish)
            .collect(),
        learning_rate: lr.finish(),
        boundaries,
        total_batches: offset + unit_len,
    }
}

/// Docid health as logged after a step (`health` events), in log order.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthAfterStep {
    /// 1-based step.
    pub after_step: usize,
    /// `assigned`, `reassigned`, `disambiguated` or `scheme`.
    pub stage: String,
    pub health: DocidHealth,
}

pub fn health_after_steps(events: &[TrainEvent]) -> Vec<HealthAfterStep> {
    events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Health {
                after_step,
                stage,
                health,
            } => Some(HealthAfterStep {
                after_step: *after_step,
                stage: stage.clone(),
                health: health.clone(),
            }),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(unit: Value, batch: usize, batches: usize, loss: f64, prefix: Option<f64>) -> String {
        serde_json::json!({
            "event": "batch", "unit": unit, "batch": batch, "batches": batches, "loss": loss,
            "ranking": loss / 2.0, "generation": null, "prefix": prefix, "reconstruction": null,
            "distill": null, "lr": 0.001, "grad_norm": 1.0, "elapsed_s": 1.0
        })
        .to_string()
    }

    fn write_log(lines: &[String]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        std::fs::write(&path, lines.join("\n")).unwrap();
        (dir, path)
    }

    #[test]
    fn curves_run_on_one_axis_with_a_boundary_per_step() {
        let warm0 = serde_json::json!({"unit": "warmup", "step": 0, "epoch": 0});
        let main0 = serde_json::json!({"unit": "main", "step": 0, "epoch": 0});
        let warm1 = serde_json::json!({"unit": "warmup", "step": 1, "epoch": 0});
        let last = serde_json::json!({"unit": "final", "epoch": 0});
        let (_dir, path) = write_log(&[
            batch(warm0.clone(), 5, 10, 4.0, None),
            batch(warm0, 10, 10, 3.0, None),
            r#"{"event":"unit_done","unit":{"unit":"init-codebook","step":0},"secs":1.0,"elapsed_s":2.0,"run_eta_s":null}"#.into(),
            batch(main0, 10, 10, 2.0, None),
            batch(warm1.clone(), 5, 20, 6.0, Some(1.5)),
            batch(warm1, 20, 20, 5.0, Some(1.0)),
            r#"{"event":"reassigned","kept_prefix_share":[0.9,0.5]}"#.into(),
            batch(last, 4, 4, 1.0, Some(0.5)),
        ]);
        let log = read_training_log(&path).unwrap();
        assert_eq!(log.kept_prefix_share, Some(vec![0.9, 0.5]));
        let curves = training_curves(&log.events);
        assert_eq!(curves.total_batches, 44.0);
        assert_eq!(
            curves.boundaries,
            [
                StepBoundary {
                    x: 20.0,
                    label: "step 2".into()
                },
                StepBoundary {
                    x: 40.0,
                    label: "final".into()
                },
            ]
        );
        let total = &curves.losses[0];
        assert_eq!(total.name, "total loss");
        assert_eq!(
            total.points().copied().collect::<Vec<_>>(),
            [
                (5.0, 4.0),
                (10.0, 3.0),
                (20.0, 2.0),
                (25.0, 6.0),
                (40.0, 5.0),
                (44.0, 1.0)
            ]
        );
        // The prefix term is off in step 1: one segment, from step 2 on; terms never on are
        // left out.
        let names: Vec<&str> = curves.losses.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["total loss", "ranking", "prefix"]);
        assert_eq!(
            curves.losses[2].segments,
            [vec![(25.0, 1.5), (40.0, 1.0), (44.0, 0.5)]]
        );
        assert_eq!(curves.learning_rate.as_ref().unwrap().points().count(), 6);
    }

    #[test]
    fn a_gap_in_a_term_breaks_its_line() {
        let mut c = Curve::new("t");
        c.push(1.0, Some(1.0));
        c.push(2.0, None);
        c.push(3.0, None);
        c.push(4.0, Some(2.0));
        let c = c.finish().unwrap();
        assert_eq!(c.segments, [vec![(1.0, 1.0)], vec![(4.0, 2.0)]]);
    }

    #[test]
    fn a_bad_line_is_named_and_unknown_events_are_skipped() {
        let (_dir, path) = write_log(&[
            r#"{"event":"resumed","next_unit":3}"#.into(),
            r#"{"event":"from_the_future","x":1}"#.into(),
            r#"{"event":"batch","unit":{}}"#.into(),
        ]);
        let err = read_training_log(&path).unwrap_err().to_string();
        assert!(
            err.contains("metrics.jsonl:3") && err.contains("batch"),
            "{err}"
        );

        let (_dir, path) = write_log(&[
            r#"{"event":"resumed","next_unit":3}"#.into(),
            r#"{"event":"from_the_future","x":1}"#.into(),
        ]);
        let log = read_training_log(&path).unwrap();
        assert_eq!((log.events.len(), log.unknown_events), (1, 1));

        let (_dir, path) = write_log(&["{not json".into()]);
        let err = read_training_log(&path).unwrap_err().to_string();
        assert!(err.contains("metrics.jsonl:1: not JSON"), "{err}");
    }
}
