//! Other systems' clients, unchanged, against strata: `huggingface_hub` (`hf`).

mod hf;
