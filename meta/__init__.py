"""Meta-learning: discover RL objectives by evolution, whole populations of training runs in one XLA program.

* :mod:`jaxrl.meta.objectives` -- PPO-clip, DPO, LPO and TA-LPO as PPO policy objectives
  (mirror-learning drift functions; learned parameters are pytrees in ``ppo.RunnerState.objective_params``).
* :mod:`jaxrl.meta.es` -- evolution strategies over pytrees (evosax Open_ES / SNES / CMA-ES) and
  ``make_meta_train(cfg) -> meta_train(key)`` evolving an objective against PPO training runs.
* :mod:`jaxrl.meta.cli` -- ``jaxrl meta lpo|ta_lpo ...`` (chunked, checkpointed, resumable).
* :mod:`jaxrl.meta.discovery` -- ``python -m jaxrl.meta.discovery``: meta-train, evaluate, plot.
* :mod:`jaxrl.meta.plots` -- drift heat maps over (r, A) at several n/N.
"""
