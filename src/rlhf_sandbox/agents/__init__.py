"""What learns, decides and judges, one subpackage per concern, imported in one order:
``teachers``, ``policy`` -> ``reward``, ``evaluation`` -> ``feedback`` -> ``rlhf`` -> ``sweep``
(packages of one tier do not import each other; ``tests/test_layout.py`` holds the rule)."""
