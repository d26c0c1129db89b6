//! What KDA applications used that does not run here, refused with the reason: the
//! machine-learning functions (AWS's models) and Lambda preprocessing (a pipe does that job).

use serde_json::Value;

use super::lexer::Token;
use super::SqlError;

/// The machine-learning table functions of the KDA SQL Reference ("Machine Learning
/// Functions"), and why they do not run here.
pub(super) const MACHINE_LEARNING: &[&str] = &[
    "RANDOM_CUT_FOREST",
    "RANDOM_CUT_FOREST_WITH_EXPLANATION",
    "HOTSPOTS",
];

/// Why `RANDOM_CUT_FOREST` and the others are refused, at their name.
pub(super) fn machine_learning_error(name: &Token) -> SqlError {
    SqlError::new(
        name.pos,
        format!(
            "{} is not supported: KDA's machine-learning functions scored records with AWS's own \
             models (random cut forest, hotspots), which are not reproduced here, and scores from \
             another model would not be the same. Compute the scores in your own code or in \
             Apache Flink (a Python or Java UDF) and feed them to kds-window as a column",
            name.describe()
        ),
    )
}

/// An input configuration with a Lambda preprocessor ("Preprocessing Data Using a Lambda
/// Function", KDA SQL Developer Guide: `InputProcessingConfiguration.InputLambdaProcessor`)
/// is refused: no Lambda function runs here, and a pipe does the same job.
pub fn refuse_lambda(input: &Value) -> Result<(), String> {
    if input.get("InputProcessingConfiguration").is_some() {
        return Err(
            "the input has an InputProcessingConfiguration (a Lambda preprocessor): \
                    kds-window runs no Lambda functions. Transform the records in the pipe \
                    instead (kds-tail ... | your-transform | kds-window ...) and give the \
                    InputSchema of the transformed records"
                .to_string(),
        );
    }
    Ok(())
}
