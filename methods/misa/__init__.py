"""MISA (module-wise importance sampling, arXiv 2511.00056), LISA, and the fine-tuning baselines' factory."""
