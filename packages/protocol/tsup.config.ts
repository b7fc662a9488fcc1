import { packageTsupConfig } from '../../tsup.shared.js';

export default packageTsupConfig();
