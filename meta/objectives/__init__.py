"""Policy objectives in mirror-learning form, all plugging into PPO's objective slot.

Every objective here is a callable ``objective(log_ratio [N], advantage [N],
progress [], hparams, objective_params) -> loss []`` (see :data:`jaxrl.agents.ppo.PolicyObjective`)
of the form ``L = -mean(r A - drift(r, A, n/N))`` with ``r = exp(log_ratio)``,
``drift >= 0`` everywhere, and ``drift = 0``, ``d drift / d r = 0`` at ``r = 1``:

* :class:`PPOClip` -- ``drift = relu((r - clip(r, 1 - eps, 1 + eps)) A)`` (equals PPO-clip);
* :class:`DPO` -- the closed-form discovered drift (alpha = 2, beta = 0.6);
* :class:`LPO` -- learned drift ``relu(drift_ppo + net(x) - 1e-4)`` with a bias-free
  ``Dense(128) -> tanh -> Dense(1)`` network on 8 features ("PPO init": zero parameters = PPO);
* :class:`TALPO` -- temporally-aware LPO: 16 features ``[x, (n/N) x]``.

Learned parameters are a pytree (``{"w1": [F, H], "w2": [H, 1]}``) carried in PPO's
``RunnerState.objective_params``, so ``jax.vmap(train, (0, None, 0))(keys, None, params)`` trains
a whole population of objectives in one program::

    obj = make_objective("ta_lpo", num_updates=cfg.num_updates)
    train = ppo.make_train(cfg, obj)
    state, metrics = jax.jit(train)(key, None, obj.init_params())
"""

from jaxrl.meta.objectives.core import (
    DPO,
    DRIFT_OFFSET,
    LPO,
    OBJECTIVES,
    TALPO,
    MirrorObjective,
    PPOClip,
    dpo_drift,
    load_objective,
    lpo_features,
    make_objective,
    ppo_drift,
    save_objective,
    update_fraction,
)

__all__ = [
    "DPO",
    "DRIFT_OFFSET",
    "LPO",
    "OBJECTIVES",
    "TALPO",
    "MirrorObjective",
    "PPOClip",
    "dpo_drift",
    "load_objective",
    "lpo_features",
    "make_objective",
    "ppo_drift",
    "save_objective",
    "update_fraction",
]
