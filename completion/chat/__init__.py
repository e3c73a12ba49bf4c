"""Ask and explain: chat answers streamed, reasoning split from the answer."""
