//! [`TextDendrite`]: the bittensor 3 text API over candle tensors (wire-legacy §10).

use std::sync::Arc;
use std::time::Duration;

use candle_core::Tensor;
use neuron_legacy::{CausalLmForm, Seq2SeqArgs, SynapseSpec};
use neuron_protocol::legacy::ReturnCode;
use neuron_wallet::Keypair;

use super::autograd::{BackwardHandle, BackwardMode};
use super::endpoint::Endpoint;
use super::error::Result;
use super::inputs::{Endpoints, TextInputs, format_text_inputs};
use super::metrics::Metrics;
use super::modality::ModalityInputs;
use super::pool::ReceptorPool;
use super::receptor::{self, Outcome};
use super::tokenizer::Tokenizer;
use neuron_legacy::modality::Modality;

/// Default timeout: `__blocktime__ + 2` = 14 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(14);

/// Settings of a [`TextDendrite`].
///
/// | knob | default |
/// |---|---|
/// | `timeout` | [`DEFAULT_TIMEOUT`] (14 s) |
/// | `backward` | [`BackwardMode::Await`] |
/// | `max_background_backwards` | 64 fire-and-forget backward batches in flight |
/// | `receptor` | [`receptor::Config::new`] |
/// | `max_active_receptors` | 4096 |
#[derive(Debug, Clone)]
pub struct Config {
    /// Timeout of a call when none is given.
    pub timeout: Duration,
    /// What [`BackwardHandle::backward`] does.
    pub backward: BackwardMode,
    /// Bound of fire-and-forget backward batches; more are dropped (and counted).
    pub max_background_backwards: usize,
    /// Receptor settings.
    pub receptor: receptor::Config,
    /// Pool bound.
    pub max_active_receptors: usize,
}

impl Config {
    /// The defaults in the table above.
    pub fn new() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            backward: BackwardMode::Await,
            max_background_backwards: 64,
            receptor: receptor::Config::new(),
            max_active_receptors: super::pool::DEFAULT_MAX_ACTIVE_RECEPTORS,
        }
    }

    /// With another backward mode.
    pub fn with_backward(mut self, mode: BackwardMode) -> Self {
        self.backward = mode;
        self
    }

    /// With another default timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// With other receptor settings.
    pub fn with_receptor(mut self, receptor: receptor::Config) -> Self {
        self.receptor = receptor;
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

/// Results of a text call, **endpoint-major**: `outputs[e][j]` is synapse `j` of
/// endpoint `e` (upstream's code order, not its docstring's).
#[derive(Debug, Clone)]
pub struct TextOutput {
    /// Outputs; zeros of the documented shape where a synapse failed.
    pub outputs: Vec<Vec<Tensor>>,
    /// Codes per endpoint and synapse.
    pub codes: Vec<Vec<ReturnCode>>,
    /// Seconds per endpoint and synapse.
    pub times: Vec<Vec<f64>>,
    /// Messages per endpoint and synapse.
    pub messages: Vec<Vec<String>>,
}

impl TextOutput {
    fn from_outcomes(outcomes: Vec<Outcome>) -> Self {
        let mut out = TextOutput {
            outputs: Vec::with_capacity(outcomes.len()),
            codes: Vec::with_capacity(outcomes.len()),
            times: Vec::with_capacity(outcomes.len()),
            messages: Vec::with_capacity(outcomes.len()),
        };
        for o in outcomes {
            out.outputs.push(o.outputs);
            out.codes.push(o.codes);
            out.times.push(o.times);
            out.messages.push(o.messages);
        }
        out
    }
}

/// What [`TextDendrite::generate`] returns, one entry per endpoint.
#[derive(Debug, Clone)]
pub struct Generated {
    /// Code names.
    pub codes: Vec<String>,
    /// Seconds.
    pub times: Vec<f64>,
    /// The first generated sequence of each endpoint, decoded (empty on failure).
    pub texts: Vec<String>,
}

/// The hidden-state mask of [`TextDendrite::text_last_hidden_state`].
#[derive(Debug, Clone, Default)]
pub enum Mask {
    /// Every position.
    #[default]
    None,
    /// One position (negative counts from the end).
    One(i32),
    /// Several positions.
    List(Vec<i32>),
}

impl Mask {
    fn positions(self) -> Vec<i32> {
        match self {
            Mask::None => Vec::new(),
            Mask::One(m) => vec![m],
            Mask::List(v) => v,
        }
    }
}

/// The legacy-dialect dendrite: a [`ReceptorPool`], the GPT-2 tokenizer and metrics.
#[derive(Debug, Clone)]
pub struct TextDendrite {
    pool: Arc<ReceptorPool>,
    tokenizer: Tokenizer,
    metrics: Metrics,
    config: Config,
    background: Arc<tokio::sync::Semaphore>,
}

impl TextDendrite {
    /// A dendrite signing as `keypair`.
    pub fn new(keypair: Keypair, config: Config) -> Self {
        let pool = ReceptorPool::with_max_active(
            Arc::new(keypair),
            config.receptor.clone(),
            config.max_active_receptors,
        );
        Self::with_pool(Arc::new(pool), config)
    }

    /// A dendrite over an existing pool (its receptor settings win).
    pub fn with_pool(pool: Arc<ReceptorPool>, config: Config) -> Self {
        Self {
            pool,
            tokenizer: Tokenizer::gpt2(),
            metrics: Metrics::new(),
            background: Arc::new(tokio::sync::Semaphore::new(
                config.max_background_backwards.max(1),
            )),
            config,
        }
    }

    /// The receptor pool.
    pub fn pool(&self) -> &Arc<ReceptorPool> {
        &self.pool
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Resolves any endpoint and input form into one int64 `[B, S]` tensor per endpoint.
    pub fn format_text_inputs(
        &self,
        endpoints: impl Into<Endpoints>,
        inputs: impl Into<TextInputs>,
    ) -> Result<(Vec<Endpoint>, Vec<Tensor>)> {
        format_text_inputs(&self.tokenizer, endpoints.into(), inputs.into())
    }

    async fn forward_resolved(
        &self,
        endpoints: &[Endpoint],
        synapses: &[SynapseSpec],
        inputs: &[Tensor],
        timeout: Option<Duration>,
    ) -> Result<TextOutput> {
        self.forward_resolved_as(endpoints, synapses, inputs, timeout, CausalLmForm::LogProbs)
            .await
    }

    async fn forward_resolved_as(
        &self,
        endpoints: &[Endpoint],
        synapses: &[SynapseSpec],
        inputs: &[Tensor],
        timeout: Option<Duration>,
        form: CausalLmForm,
    ) -> Result<TextOutput> {
        let timeout = timeout.unwrap_or(self.config.timeout);
        let outcomes = self
            .pool
            .forward_as(endpoints, synapses, inputs, timeout, form)
            .await?;
        for o in &outcomes {
            self.metrics.observe(o);
        }
        Ok(TextOutput::from_outcomes(outcomes))
    }

    /// Calls `synapses` on every endpoint with `inputs` (any accepted form).
    pub async fn text(
        &self,
        endpoints: impl Into<Endpoints>,
        synapses: &[SynapseSpec],
        inputs: impl Into<TextInputs>,
        timeout: Option<Duration>,
    ) -> Result<TextOutput> {
        let (endpoints, inputs) = self.format_text_inputs(endpoints, inputs)?;
        self.forward_resolved(&endpoints, synapses, &inputs, timeout)
            .await
    }

    /// TEXT_CAUSAL_LM (full-vocab log-probabilities `[B, S, V]` per endpoint). Returns
    /// every endpoint's result (upstream returned only the first endpoint's, §19.6).
    pub async fn text_causal_lm(
        &self,
        endpoints: impl Into<Endpoints>,
        inputs: impl Into<TextInputs>,
        topk: Option<u32>,
        timeout: Option<Duration>,
    ) -> Result<TextOutput> {
        let spec = SynapseSpec::causal_lm(topk.unwrap_or(512));
        self.text(endpoints, &[spec], inputs, timeout).await
    }

    /// TEXT_CAUSAL_LM in its compact form: per endpoint `[B, S, 2·topk]`, the top-k
    /// probabilities (descending) then their token ids as floats, zeros on failure (see
    /// [`CausalLmForm::TopK`]). The same call on the wire as [`Self::text_causal_lm`],
    /// without expanding every reply to `B·S·50258` floats;
    /// [`SynapseSpec::expand_log_probs`] turns one result into the full form.
    pub async fn text_causal_lm_topk(
        &self,
        endpoints: impl Into<Endpoints>,
        inputs: impl Into<TextInputs>,
        topk: Option<u32>,
        timeout: Option<Duration>,
    ) -> Result<TextOutput> {
        let spec = SynapseSpec::causal_lm(topk.unwrap_or(512));
        let (endpoints, inputs) = self.format_text_inputs(endpoints, inputs)?;
        self.forward_resolved_as(&endpoints, &[spec], &inputs, timeout, CausalLmForm::TopK)
            .await
    }

    /// TEXT_CAUSAL_LM_NEXT (`[B, topk+1, L]` phrases per endpoint).
    pub async fn text_causal_lm_next(
        &self,
        endpoints: impl Into<Endpoints>,
        inputs: impl Into<TextInputs>,
        topk: Option<u32>,
        timeout: Option<Duration>,
    ) -> Result<TextOutput> {
        let spec = SynapseSpec::causal_lm_next(topk.unwrap_or(4096));
        self.text(endpoints, &[spec], inputs, timeout).await
    }

    /// TEXT_LAST_HIDDEN_STATE (`[B, S, 1024]`, zeros at unmasked positions).
    pub async fn text_last_hidden_state(
        &self,
        endpoints: impl Into<Endpoints>,
        inputs: impl Into<TextInputs>,
        mask: Mask,
        timeout: Option<Duration>,
    ) -> Result<TextOutput> {
        let spec = SynapseSpec::last_hidden_state_masked(mask.positions());
        self.text(endpoints, &[spec], inputs, timeout).await
    }

    /// The seed-003 modality call for text: TEXT_LAST_HIDDEN_STATE without a mask.
    pub async fn forward_text(
        &self,
        endpoints: impl Into<Endpoints>,
        inputs: impl Into<TextInputs>,
        timeout: Option<Duration>,
    ) -> Result<TextOutput> {
        self.text_last_hidden_state(endpoints, inputs, Mask::None, timeout)
            .await
    }

    /// The seed-003 modality call for tensors: float `[B, S, D]` inputs to each endpoint's
    /// TENSOR model, one hidden state `[B, S, 1024]` per endpoint (zeros on failure). Sent
    /// as a 2.x modality call (`neuron_legacy::modality`); bittensor 3.x axons have no
    /// such call and answer it with RequestShapeException.
    pub async fn forward_tensor(
        &self,
        endpoints: impl Into<Endpoints>,
        inputs: impl Into<ModalityInputs>,
        timeout: Option<Duration>,
    ) -> Result<TextOutput> {
        self.forward_modality(endpoints, Modality::Tensor, inputs, timeout)
            .await
    }

    /// The seed-003 modality call for images: float `[B, S, C, H, W]` inputs to each
    /// endpoint's IMAGE model, `[B, S, 1024]` per endpoint (see [`Self::forward_tensor`]).
    pub async fn forward_image(
        &self,
        endpoints: impl Into<Endpoints>,
        inputs: impl Into<ModalityInputs>,
        timeout: Option<Duration>,
    ) -> Result<TextOutput> {
        self.forward_modality(endpoints, Modality::Image, inputs, timeout)
            .await
    }

    /// A 2.x modality call of modality `m` to every endpoint; one output per endpoint.
    pub async fn forward_modality(
        &self,
        endpoints: impl Into<Endpoints>,
        m: Modality,
        inputs: impl Into<ModalityInputs>,
        timeout: Option<Duration>,
    ) -> Result<TextOutput> {
        let endpoints = endpoints.into().resolve()?;
        let inputs = inputs.into().resolve(endpoints.len())?;
        self.forward_modality_resolved(&endpoints, m, &inputs, timeout)
            .await
    }

    async fn forward_modality_resolved(
        &self,
        endpoints: &[Endpoint],
        m: Modality,
        inputs: &[Tensor],
        timeout: Option<Duration>,
    ) -> Result<TextOutput> {
        let timeout = timeout.unwrap_or(self.config.timeout);
        let outcomes = self
            .pool
            .forward_modality(endpoints, m, inputs, timeout)
            .await?;
        for o in &outcomes {
            self.metrics.observe(o);
        }
        Ok(TextOutput::from_outcomes(outcomes))
    }

    /// [`Self::forward_modality`] whose outputs are differentiable stand-ins: the
    /// [`BackwardHandle`] sends the gradient of each output back (a 2.x Backward) and
    /// returns the gradients of the inputs the remotes sent back.
    pub async fn forward_modality_autograd(
        &self,
        endpoints: impl Into<Endpoints>,
        m: Modality,
        inputs: impl Into<ModalityInputs>,
        timeout: Option<Duration>,
    ) -> Result<(TextOutput, BackwardHandle)> {
        let endpoints = endpoints.into().resolve()?;
        let inputs = inputs.into().resolve(endpoints.len())?;
        let out = self
            .forward_modality_resolved(&endpoints, m, &inputs, timeout)
            .await?;
        let handle = BackwardHandle::new(
            self.pool.clone(),
            endpoints,
            Vec::new(),
            inputs,
            &out.outputs,
            timeout.unwrap_or(self.config.timeout),
            self.config.backward,
            self.background.clone(),
        )?
        .with_modality(m);
        Ok((out, handle))
    }

    /// TEXT_SEQ_2_SEQ on `prompt`; decodes each endpoint's first sequence.
    pub async fn generate(
        &self,
        endpoints: impl Into<Endpoints>,
        prompt: &str,
        args: Option<Seq2SeqArgs>,
        timeout: Option<Duration>,
    ) -> Result<Generated> {
        let spec = SynapseSpec::seq2seq(args.unwrap_or_default());
        let out = self.text(endpoints, &[spec], prompt, timeout).await?;
        let mut generated = Generated {
            codes: Vec::new(),
            times: Vec::new(),
            texts: Vec::new(),
        };
        for ((outputs, codes), times) in out.outputs.iter().zip(&out.codes).zip(&out.times) {
            let code = codes.first().copied().unwrap_or(ReturnCode::NoReturn);
            generated.codes.push(code.name().to_owned());
            generated.times.push(times.first().copied().unwrap_or(0.0));
            let text = match outputs.first() {
                Some(t) if code == ReturnCode::Success => self.first_row_text(t)?,
                _ => String::new(),
            };
            generated.texts.push(text);
        }
        Ok(generated)
    }

    fn first_row_text(&self, t: &Tensor) -> Result<String> {
        let ids = t.to_dtype(candle_core::DType::I64)?;
        let row = match ids.rank() {
            2 if ids.dim(0)? > 0 => ids.get(0)?.to_vec1::<i64>()?,
            1 => ids.to_vec1::<i64>()?,
            _ => Vec::new(),
        };
        self.tokenizer.decode(&row)
    }

    /// Forward whose outputs are differentiable stand-ins: the returned
    /// [`BackwardHandle`] holds a candle `Var` per output, and sends the gradients of a
    /// loss over them back to the endpoints (see [`super::autograd`]).
    pub async fn forward_autograd(
        &self,
        endpoints: impl Into<Endpoints>,
        synapses: &[SynapseSpec],
        inputs: impl Into<TextInputs>,
        timeout: Option<Duration>,
    ) -> Result<(TextOutput, BackwardHandle)> {
        let (endpoints, inputs) = self.format_text_inputs(endpoints, inputs)?;
        let out = self
            .forward_resolved(&endpoints, synapses, &inputs, timeout)
            .await?;
        let handle = BackwardHandle::new(
            self.pool.clone(),
            endpoints,
            synapses.to_vec(),
            inputs,
            &out.outputs,
            timeout.unwrap_or(self.config.timeout),
            self.config.backward,
            self.background.clone(),
        )?;
        Ok((out, handle))
    }
}
