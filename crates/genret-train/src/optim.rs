//! AdamW with global-norm gradient clipping, written over tch tensors so that its state (moments
//! and step counts) can be saved with a checkpoint and a resumed run continues exactly where the
//! killed one stopped. Same update as `torch.optim.AdamW` (decoupled weight decay, bias
//! correction).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use tch::Tensor;

pub struct AdamW {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    state: BTreeMap<String, ParamState>,
}

struct ParamState {
    m: Tensor,
    v: Tensor,
    step: i64,
}

impl AdamW {
    pub fn new(lr: f64, weight_decay: f64) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            state: BTreeMap::new(),
        }
    }

    /// Clips the gradients of `params` to a global L2 norm of `max_norm` (if > 0) and returns the
    /// norm before clipping.
    pub fn clip_grad_norm(params: &[(String, Tensor)], max_norm: f64) -> f64 {
        let grads: Vec<Tensor> = params
            .iter()
            .map(|(_, p)| p.grad())
            .filter(Tensor::defined)
            .collect();
        if grads.is_empty() {
            return 0.0;
        }
        let total = tch::no_grad(|| {
            let sq: Vec<Tensor> = grads
                .iter()
                .map(|g| g.pow_tensor_scalar(2).sum(tch::Kind::Double))
                .collect();
            Tensor::stack(&sq, 0)
                .sum(tch::Kind::Double)
                .sqrt()
                .double_value(&[])
        });
        if max_norm > 0.0 && total > max_norm {
            let scale = max_norm / (total + 1e-6);
            tch::no_grad(|| {
                for g in &grads {
                    let _ = g.shallow_clone().g_mul_scalar_(scale);
                }
            });
        }
        total
    }

    /// One update of every parameter that has a gradient; gradients are then zeroed.
    pub fn step(&mut self, params: &[(String, Tensor)]) {
        tch::no_grad(|| {
            for (name, p) in params {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let st = self
                    .state
                    .entry(name.clone())
                    .or_insert_with(|| ParamState {
                        m: p.zeros_like(),
                        v: p.zeros_like(),
                        step: 0,
                    });
                st.step += 1;
                let mut p = p.shallow_clone();
                if self.weight_decay != 0.0 {
                    let _ = p.g_mul_scalar_(1.0 - self.lr * self.weight_decay);
                }
                let _ =
                    st.m.g_mul_scalar_(self.beta1)
                        .g_add_(&(&g * (1.0 - self.beta1)));
                let _ =
                    st.v.g_mul_scalar_(self.beta2)
                        .g_add_(&(g.square() * (1.0 - self.beta2)));
                let bc1 = 1.0 - self.beta1.powi(st.step as i32);
                let bc2 = 1.0 - self.beta2.powi(st.step as i32);
                let denom = (&st.v / bc2).sqrt() + self.eps;
                let update = (&st.m / bc1) / denom * self.lr;
                let _ = p.g_sub_(&update);
                let mut g = g;
                let _ = g.zero_();
            }
        });
    }

    /// Zeroes the gradients of `params` (e.g. after a skipped step).
    pub fn zero_grad(params: &[(String, Tensor)]) {
        for (_, p) in params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let mut named: Vec<(String, Tensor)> = Vec::new();
        for (name, st) in &self.state {
            named.push((format!("m/{name}"), st.m.shallow_clone()));
            named.push((format!("v/{name}"), st.v.shallow_clone()));
            named.push((format!("step/{name}"), Tensor::from_slice(&[st.step])));
        }
        if named.is_empty() {
            named.push((
                "empty".into(),
                Tensor::zeros([1], (tch::Kind::Float, tch::Device::Cpu)),
            ));
        }
        let refs: Vec<(&str, &Tensor)> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
        Tensor::write_safetensors(&refs, path)
            .with_context(|| format!("writing {}", path.display()))
    }

    pub fn load(&mut self, path: &Path, device: tch::Device) -> Result<()> {
        let tensors = Tensor::read_safetensors(path)
            .with_context(|| format!("reading {}", path.display()))?;
        let mut map: BTreeMap<String, Tensor> = tensors.into_iter().collect();
        self.state.clear();
        let names: Vec<String> = map
            .keys()
            .filter_map(|k| k.strip_prefix("step/").map(str::to_string))
            .collect();
        for name in names {
            let m = map
                .remove(&format!("m/{name}"))
                .with_context(|| format!("{}: no m/{name}", path.display()))?;
            let v = map
                .remove(&format!("v/{name}"))
                .with_context(|| format!("{}: no v/{name}", path.display()))?;
            let step = map
                .remove(&format!("step/{name}"))
                .map(|t| t.int64_value(&[0]))
                .unwrap_or(0);
            self.state.insert(
                name,
                ParamState {
                    m: m.to_device(device),
                    v: v.to_device(device),
                    step,
                },
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn two_steps_match_the_adamw_formula() {
        let p = Tensor::from_slice(&[1.0f64, -2.0]).set_requires_grad(true);
        let params = vec![("p".to_string(), p.shallow_clone())];
        let mut opt = AdamW::new(0.1, 0.01);
        let mut want = [1.0f64, -2.0];
        let (mut m, mut v) = ([0.0f64; 2], [0.0f64; 2]);
        for step in 1..=2 {
            // loss = sum(p^3) -> grad 3 p^2
            let loss = p.pow_tensor_scalar(3).sum(Kind::Double);
            loss.backward();
            let g: Vec<f64> = want.iter().map(|x| 3.0 * x * x).collect();
            opt.step(&params);
            for i in 0..2 {
                want[i] *= 1.0 - 0.1 * 0.01;
                m[i] = 0.9 * m[i] + 0.1 * g[i];
                v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
                let mh = m[i] / (1.0 - 0.9f64.powi(step));
                let vh = v[i] / (1.0 - 0.999f64.powi(step));
                want[i] -= 0.1 * mh / (vh.sqrt() + 1e-8);
            }
            for (i, w) in want.iter().enumerate() {
                assert!(
                    (p.double_value(&[i as i64]) - w).abs() < 1e-12,
                    "step {step}"
                );
            }
            assert_eq!(
                p.grad().abs().sum(Kind::Double).double_value(&[]),
                0.0,
                "grads zeroed"
            );
        }
    }

    #[test]
    fn clipping_scales_to_the_global_norm() {
        let a = Tensor::from_slice(&[0.0f64, 0.0]).set_requires_grad(true);
        let b = Tensor::from_slice(&[0.0f64]).set_requires_grad(true);
        (a.sum(Kind::Double) * 3.0 + b.sum(Kind::Double) * 4.0 * 1.0 + a.get(0) * 0.0).backward();
        let params = vec![
            ("a".to_string(), a.shallow_clone()),
            ("b".to_string(), b.shallow_clone()),
        ];
        let norm = AdamW::clip_grad_norm(&params, 1.0);
        assert!((norm - (9.0f64 + 9.0 + 16.0).sqrt()).abs() < 1e-9);
        let after = (a.grad().square().sum(Kind::Double) + b.grad().square().sum(Kind::Double))
            .sqrt()
            .double_value(&[]);
        assert!((after - 1.0).abs() < 1e-5, "{after}");
    }

    #[test]
    fn state_round_trips_through_a_file() {
        let p = Tensor::from_slice(&[0.5f32, 1.5]).set_requires_grad(true);
        let params = vec![("w".to_string(), p.shallow_clone())];
        let mut opt = AdamW::new(0.01, 0.0);
        p.square().sum(Kind::Float).backward();
        opt.step(&params);
        let dir = tempfile::tempdir().unwrap();
        opt.save(&dir.path().join("o.safetensors")).unwrap();
        let mut back = AdamW::new(0.01, 0.0);
        back.load(&dir.path().join("o.safetensors"), tch::Device::Cpu)
            .unwrap();
        let (a, b) = (&opt.state["w"], &back.state["w"]);
        assert!(a.m.equal(&b.m) && a.v.equal(&b.v) && a.step == b.step);
    }
}
