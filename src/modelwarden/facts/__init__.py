"""The inspect stage: the facts of a release read from its files (never by executing them).

`gather` walks a release and assembles `ModelFacts`; `files` classifies what a release ships;
`parameters`, `config_formulas` and `parameter_count` give the parameter count (from the weights'
headers, from the config, and the one rule that picks between them and the manifest); `weights`,
`card`, `licence_text` and `tokenizer` read one kind of file each.
"""
