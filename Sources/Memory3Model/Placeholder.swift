// Model target placeholder
