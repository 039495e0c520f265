"""Who judges clips: oracles (rewards over behaviour features), B-Pref raters (how an
imperfect person answers) and the teacher value that pairs them."""
