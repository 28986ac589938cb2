"""Domain errors that carry the wire contract's error code and message."""

MESSAGES: dict[int, str] = {
    3: "Unsupported openapi method",
    14: "IAM Certification failed",
    110: "Access token invalid or no longer valid",
    111: "Access token expired",
    406000: "internal server error",
    406008: "quota exceeded",
    406012: "job does not exist",
    406013: "job stop failed",
    406014: "job can not delete",
    406015: "job name cannot be empty",
    406016: "the job name is too long",
    406017: "job description cannot be empty",
    406018: "job description is too long",
    406019: "code file address error",
    406020: "startup command error",
    406021: "output path error",
    406022: "training dataset address error",
    406023: "test dataset address error",
    406026: "job name already exists",
    406027: "job status exception",
    406028: "resource type error",
    406030: "missing image parameters",
    406031: "missing tag parameters",
    406032: "missing distributed strategy parameter",
    406033: "image registry is incorrect",
    406034: "training environment error",
    406035: "the job quantity has reached the upper limit",
    406036: "the emoji character is not supported",
    406037: "no operation permission",
    406038: "parameter too long",
    406100: "resource pool does not exist",
    406101: "node over limit",
    406102: "cpu over limit",
    406103: "memory over limit",
    406104: "gpu over limit",
}


class ApiError(Exception):
    """An error the API answers with `error_code` and `error_msg`."""

    def __init__(self, code: int, message: str | None = None) -> None:
        self.code = code
        self.message = message if message is not None else MESSAGES[code]
        super().__init__(self.message)


def invalid(field: str) -> ApiError:
    """406001 for a missing, mistyped or out-of-range field."""
    return ApiError(406001, f"param[{field}] invalid")
