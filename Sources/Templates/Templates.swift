/// Renders templates from `templates/` with typed contexts.
public enum Templates {}
