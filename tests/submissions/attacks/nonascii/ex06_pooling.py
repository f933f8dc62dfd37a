"""An error message that is not ASCII (shown in the table the grader prints)."""


def pool(x, mode, num_prefix_tokens=0):
    raise ValueError("Größe falsch – ✗")
