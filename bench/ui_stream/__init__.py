"""How fast the chat page renders a long streamed reply (see __main__)."""
