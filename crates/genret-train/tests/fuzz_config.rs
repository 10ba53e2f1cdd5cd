//! Property-based fuzzing of the TOML training configuration: random bytes and random edits of
//! a full configuration must load (and resolve against a corpus size) or give an error that
//! names the file, never panic.

use genret_train::TrainConfig;
use proptest::prelude::*;

fn sample() -> String {
    TrainConfig::default().to_toml()
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    let edits = prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 0..8);
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        edits.prop_map(|edits| {
            let mut b = sample().into_bytes();
            for (at, op, byte) in edits {
                if b.is_empty() {
                    break;
                }
                let i = at.index(b.len());
                match op {
                    0 => b[i] = byte,
                    1 => b.insert(i, byte),
                    2 => {
                        b.remove(i);
                    }
                    _ => b.truncate(i),
                }
            }
            b
        }),
        // A valid configuration with one number replaced by an extreme one.
        (
            any::<prop::sample::Index>(),
            prop_oneof![
                Just("0"),
                Just("-1"),
                Just("1e308"),
                Just("18446744073709551615"),
                Just("nan")
            ]
        )
            .prop_map(|(at, v)| {
                let text = sample();
                let numbers: Vec<(usize, usize)> = text
                    .match_indices(" = ")
                    .map(|(i, _)| {
                        (
                            i + 3,
                            text[i + 3..].find('\n').map_or(text.len(), |e| i + 3 + e),
                        )
                    })
                    .collect();
                let (s, e) = numbers[at.index(numbers.len())];
                format!("{}{}{}", &text[..s], v, &text[e..]).into_bytes()
            }),
    ]
}

proptest! {
    #[test]
    fn training_configurations_load_or_are_refused_by_name(bytes in input(), docs in 0usize..20_000) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("genret.toml");
        std::fs::write(&p, &bytes).unwrap();
        match TrainConfig::load(&p) {
            Ok(cfg) => {
                let _ = cfg.resolve(docs);
            }
            Err(e) => {
                let msg = format!("{e:#}");
                prop_assert!(msg.contains("genret.toml"), "{msg}");
            }
        }
    }
}
