import { describe, expect, it } from 'vitest';
import { errorBody, familyOf, streamErrorEvent } from './api-errors.js';
import { GatewayError } from './errors.js';

describe("errors on Bedrock's routes", () => {
  it("name the exception the AWS SDK raises for each status, in Bedrock's REST-JSON shape", () => {
    const typeOf = (error: GatewayError) => (errorBody(familyOf('/bedrock/'), error) as { __type: string }).__type;
    expect(errorBody('aws', new GatewayError('invalid_request', 'bad'))).toEqual({ __type: 'ValidationException', message: 'bad' });
    expect(typeOf(new GatewayError('missing_api_key', 'x'))).toBe('UnrecognizedClientException');
    expect(typeOf(new GatewayError('model_not_allowed', 'x'))).toBe('AccessDeniedException');
    expect(typeOf(new GatewayError('not_found', 'x'))).toBe('ResourceNotFoundException');
    expect(typeOf(new GatewayError('rate_limit_exceeded', 'x'))).toBe('ThrottlingException');
    expect(typeOf(new GatewayError('overloaded', 'x'))).toBe('ServiceUnavailableException');
    expect(typeOf(new GatewayError('upstream_error', 'x'))).toBe('InternalServerException');
    expect(typeOf(new GatewayError('budget_exceeded', 'x'))).toBe('ServiceQuotaExceededException');
  });

  it('end a failed stream with an exception member of the stream union', () => {
    const endpoint = '/bedrock/model/{model}/converse-stream';
    expect(streamErrorEvent(endpoint, new GatewayError('upstream_unreachable', 'gone'))).toEqual({
      event: 'internalServerException',
      data: JSON.stringify({ message: 'gone' }),
    });
    expect(streamErrorEvent(endpoint, new GatewayError('rate_limit_exceeded', 'slow')).event).toBe('throttlingException');
    expect(streamErrorEvent(endpoint, new GatewayError('overloaded', 'busy')).event).toBe('serviceUnavailableException');
  });
});
