"""The matching and exception rules as governed artefacts.

* :mod:`~orchestration.rules.governance`: the rule hash, signed approvals, who may sign.
* :mod:`~orchestration.rules.shadow`: a proposed rule change built on a copy and compared
  with what is published, before anyone approves it.
* :mod:`~orchestration.rules.train`: match weights estimated from the warehouse without
  labels (``recon train``).
* :mod:`~orchestration.rules.weights`: the match-weights seed both ``recon train`` and the
  lab's ``recon tune`` write through.
"""
