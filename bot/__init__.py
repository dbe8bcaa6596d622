"""tweetbot: a Twitter/X persona bot that fine-tunes GPT-2 on an account's tweets."""

__version__ = "0.1.0"
