"""The assess stage: facts → scan → openness → compute → rules, as one `Assessment` (`run`), and the
documents drafted from it (`drafts`). The CLI and the web app both call `run.assess`."""
